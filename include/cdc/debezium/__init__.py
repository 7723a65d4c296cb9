"""Debezium change events as the bronze load accepts them: what a SQL Server record must look like before
it may enter bronze, and the reason it is quarantined when it does not.

``envelope`` checks a record's key and envelope against the contract, ``value_rules`` says what each SQL
Server type may hold, ``jsonb_text`` reads JSON as PostgreSQL's jsonb does, ``columns`` compares the
columns events carry with the contract (schema drift). Only the bronze load uses
them: the drain lands records as Kafka delivered them, without decoding.
"""
