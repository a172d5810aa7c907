"""Security of Baton's traffic.

``baton.security.kafka_client``: how a process authenticates to Kafka (TLS, SASL/SCRAM).
``baton.security.acl``: which service principal may read and write which topics and groups.
``baton.security.acl_plan``: those ACLs as one plan, for the local broker and real clusters.
``baton.security.http_auth``: bearer tokens of the services' HTTP side.
"""
