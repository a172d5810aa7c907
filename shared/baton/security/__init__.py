"""Security of Baton's traffic.

``baton.security.kafka_client``: how a process authenticates to Kafka (TLS, SASL/SCRAM).
``baton.security.acl``: which service principal may read and write which topics and groups.
"""
