"""The shared chassis of the platform's services: settings, event contracts, Kafka and store wiring,
auth, observability. Only what two or more services need lives here."""
