"""Kafka drain → MinIO write, and the commit of the consumer group's offsets after it.

``drain`` reads every partition to the end of its log and lands the records in the archive; ``windows``
plans each partition's share from the committed offset and the archive and checks one against the other;
``objects`` lists what the archive holds and uploads new objects; ``kafka`` asks the broker for
partitions and offsets, and commits; ``shares`` splits a run's cap fairly; ``errors`` is what stops it.
"""
