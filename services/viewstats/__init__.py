"""View statistics (浏览统计) and learning hours (学时): collector → Kafka → aggregator → queries."""
