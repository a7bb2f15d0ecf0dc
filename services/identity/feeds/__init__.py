"""Subscriber feeds (docs/SUBSCRIBERS.md).

provisioning.py  the adapter to Kafka's admin API identity's API process uses at registration: the feed topic,
                 the subscriber's SCRAM user and its ACLs (confluent-kafka's AdminClient)
wire.py          the one place that parses a platform record and builds a subscriber's feed record
scope.py         the province an event is about (catalog channel, class, course, account)
router.py        the live router: platform topics → every subscriber's feed, at least once
replays.py       replays of a window into one feed (offsets for times), bounded, progress in the store
reader.py        the HTTP feed: a page of a feed topic from a cursor
app.py           ``create_app()`` of the router's own process kind (``identity-feeds``): scales apart from the API
"""
