"""Bronze load: every landed object not yet loaded goes, exactly once, into its ``bronze.<table>_cdc``
table; records that are not change events staging can decode go to the quarantine instead.
"""
