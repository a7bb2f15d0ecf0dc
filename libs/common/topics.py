"""The platform's Kafka topics and consumer groups: ONE declarative list.

From it, ``python -m common.topics create`` creates the topics (``make run``/``make test`` do this), and
``python -m common.topics k8s`` renders the Strimzi ``KafkaTopic`` and ``KafkaUser`` resources and the KEDA
triggers under ``deploy/k8s``. Every consumer group gets a dead-letter topic ``<group>.dlq`` (same retention
as a month of incidents: long enough for an operator to inspect and replay).

Partition counts are sized for the peak: views are keyed by resource and must spread over enough
partitions for the aggregator to scale out (KEDA caps replicas at the partition count).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DAY_MS = 24 * 3600 * 1000

# Topic names, written once: the declarations below, the contracts' ``TOPIC``s and every consumer use these.
CATALOG_RESOURCES = "catalog.resources.v1"
CATALOG_EDITORIAL = "catalog.editorial.v1"
IDENTITY_USERS = "identity.users.v1"
IDENTITY_NOTIFICATIONS = "identity.notifications.v1"
IDENTITY_ACCOUNTS = "identity.accounts.v1"
VIEWSTATS_VIEWS = "viewstats.views.v1"
VIEWSTATS_HEARTBEATS = "viewstats.heartbeats.v1"
VIEWSTATS_POPULARITY = "viewstats.popularity.v1"
VIEWSTATS_LEARNING = "viewstats.learning.v1"
CATALOG_EXERCISES = "catalog.exercises.v1"
RECOMMENDER_LEARNING = "recommender.learning.v1"
RECOMMENDER_SERVED = "recommender.served.v1"
RECOMMENDER_PROFILES = "recommender.profiles.v1"
CLASSGROUPS_CLASSES = "classgroups.classes.v1"
CLASSGROUPS_CHECKINS = "classgroups.checkins.v1"
CLASSGROUPS_COURSE_REQUESTS = "classgroups.course-requests.v1"
CLASSGROUPS_COURSES = "classgroups.courses.v1"
CLASSGROUPS_STUDIOS = "classgroups.studios.v1"
# Subscriber feeds (docs/SUBSCRIBERS.md): one topic per registered subscriber system, made by identity when a ministry
# admin registers it, written only by the feed router; the subscriber reads its own and nothing else.
FEED_PREFIX = "feed."
FEED_ROUTER = "identity-feeds"  # the feed router's process kind, principal and consumer group


def feed_topic(subscriber_id: str) -> str:
    return f"{FEED_PREFIX}{subscriber_id}"


def feed_group_prefix(subscriber_id: str) -> str:
    """The consumer groups a subscriber may use: any id starting with this."""
    return f"{FEED_PREFIX}{subscriber_id}."


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    retention_ms: int | None = 7 * DAY_MS  # None: keep forever (compacted topics)
    cleanup_policy: str = "delete"  # "delete" | "compact"
    description: str = ""

    def configs(self) -> dict[str, str]:
        configs = {"cleanup.policy": self.cleanup_policy}
        configs["retention.ms"] = str(self.retention_ms if self.retention_ms is not None else -1)
        if self.cleanup_policy == "compact":
            # Compact soon enough that a new subscriber replays little more than the current state.
            configs["min.cleanable.dirty.ratio"] = "0.1"
            configs["segment.ms"] = str(6 * 3600 * 1000)
        return configs


@dataclass(frozen=True)
class ConsumerGroup:
    name: str
    service: str
    topics: tuple[str, ...]
    description: str = ""
    lag_threshold: int = 1000  # KEDA: messages of lag per replica before scaling out
    per_replica: bool = False  # True: every replica reads everything (own group id per pod), e.g. read models

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.name}.dlq"


TOPICS: list[Topic] = [
    # --- catalog -------------------------------------------------------------------------------------------
    Topic(
        CATALOG_RESOURCES,
        12,
        None,
        "compact",
        "Full published snapshot of every resource, keyed by resource id (replication feed for provinces).",
    ),
    Topic(CATALOG_EDITORIAL, 6, 30 * DAY_MS, description="Editorial review transitions of resources."),
    Topic(
        CATALOG_EXERCISES,
        6,
        None,
        "compact",
        "Exercise items (习题) WITH answer keys, keyed by exercise id: read by the recommender's principal only.",
    ),
    # --- identity ------------------------------------------------------------------------------------------
    Topic(
        IDENTITY_USERS,
        12,
        30 * DAY_MS,
        description="Account lifecycle, roles, teacher verification, guardian links; keyed by user id.",
    ),
    Topic(IDENTITY_NOTIFICATIONS, 6, 3 * DAY_MS, description="Notifications identity asks to deliver."),
    Topic(
        IDENTITY_ACCOUNTS,
        12,
        None,
        "compact",
        "The latest state of every account (kind, status, roles, teacher verification, guardians; no PII), keyed "
        "by user id: a subscriber older than identity.users.v1's retention rebuilds its directory from it.",
    ),
    # --- viewstats -----------------------------------------------------------------------------------------
    Topic(VIEWSTATS_VIEWS, 12, 7 * DAY_MS, description="Raw view beacons, keyed by resource id."),
    Topic(VIEWSTATS_HEARTBEATS, 12, 7 * DAY_MS, description="Watch-time heartbeats, keyed by user id."),
    Topic(VIEWSTATS_POPULARITY, 6, None, "compact", description="Per-resource popularity, keyed by resource id."),
    Topic(VIEWSTATS_LEARNING, 6, 90 * DAY_MS, description="Learning hours credited to teachers."),
    # --- recommender ---------------------------------------------------------------------------------------
    Topic(
        RECOMMENDER_LEARNING,
        6,
        90 * DAY_MS,
        description="Graded answers and mastery changes of students, keyed by student id.",
    ),
    Topic(RECOMMENDER_SERVED, 6, 30 * DAY_MS, description="Sampled recommendation pages, keyed by user id."),
    Topic(
        RECOMMENDER_PROFILES,
        6,
        None,
        "compact",
        description="Learning profiles users set (grade, textbook versions, subjects, province; codes only), keyed "
        "by user id: every recommender replica holds them all in memory.",
    ),
    # --- classgroups ---------------------------------------------------------------------------------------
    Topic(
        CLASSGROUPS_CLASSES,
        6,
        30 * DAY_MS,
        description="Classes, memberships, announcements and leave requests of class groups; keyed by class id.",
    ),
    Topic(
        CLASSGROUPS_CHECKINS,
        6,
        30 * DAY_MS,
        description="Check-in tasks, submissions, reviews and labour stars (劳动之星); keyed by class id.",
    ),
    Topic(
        CLASSGROUPS_COURSE_REQUESTS,
        12,
        30 * DAY_MS,
        description="Requests for after-school course places, keyed by course id: a partition's order is the "
        "arrival order its single writer applies.",
    ),
    Topic(
        CLASSGROUPS_COURSES,
        6,
        30 * DAY_MS,
        description="After-school courses published, places decided (seated, waitlisted, refused), drops.",
    ),
    Topic(
        CLASSGROUPS_STUDIOS,
        6,
        30 * DAY_MS,
        description="Famous-teacher studios (名师工作室): created, members applied/joined/left, activities scheduled; "
        "keyed by studio id.",
    ),
]

CONSUMER_GROUPS: list[ConsumerGroup] = [
    # --- catalog -------------------------------------------------------------------------------------------
    ConsumerGroup(
        "catalog-index",
        "catalog",
        (CATALOG_RESOURCES,),
        "Each catalog replica keeps its search index and read model current from its own topic.",
        per_replica=True,
    ),
    ConsumerGroup(
        "catalog-popularity",
        "catalog",
        (VIEWSTATS_POPULARITY,),
        "Each catalog replica orders its 'hot' lists by viewstats' popularity.",
        per_replica=True,
    ),
    # --- viewstats -----------------------------------------------------------------------------------------
    ConsumerGroup(
        "viewstats-aggregator",
        "viewstats",
        (VIEWSTATS_VIEWS,),
        "Counts views exactly once into per-partition counter shards.",
        lag_threshold=200_000,
    ),
    ConsumerGroup(
        "viewstats-learning",
        "viewstats",
        (VIEWSTATS_HEARTBEATS,),
        "Accumulates watch time of training courses and credits study hours (学时).",
    ),
    ConsumerGroup(
        "viewstats-catalog",
        "viewstats",
        (CATALOG_RESOURCES,),
        "Keeps the credit hours (学时) of training courses from the catalog's resources.",
    ),
    # --- recommender ---------------------------------------------------------------------------------------
    ConsumerGroup(
        "recommender-catalog",
        "recommender",
        (CATALOG_RESOURCES,),
        "Each recommender replica keeps its candidate pool of published resources.",
        per_replica=True,
    ),
    ConsumerGroup(
        "recommender-exercises",
        "recommender",
        (CATALOG_EXERCISES,),
        "Each recommender replica keeps the exercise bank with answer keys (the only reader of that topic).",
        per_replica=True,
    ),
    ConsumerGroup(
        "recommender-views",
        "recommender",
        (VIEWSTATS_VIEWS,),
        "Each recommender replica keeps who viewed what and popularity by province x grade x subject.",
        per_replica=True,
    ),
    ConsumerGroup(
        "recommender-heartbeats",
        "recommender",
        (VIEWSTATS_HEARTBEATS,),
        "Each recommender replica keeps how far users watched, and records finishes.",
        per_replica=True,
    ),
    ConsumerGroup(
        "recommender-people",
        "recommender",
        (IDENTITY_USERS,),
        "Each recommender replica keeps account kinds and schools (no PII) from identity's events.",
        per_replica=True,
    ),
    ConsumerGroup(
        "recommender-learning",
        "recommender",
        (RECOMMENDER_LEARNING,),
        "Each recommender replica keeps every student's graded answers (mastery, notebook), from its own events.",
        per_replica=True,
    ),
    ConsumerGroup(
        "recommender-profiles",
        "recommender",
        (RECOMMENDER_PROFILES,),
        "Each recommender replica keeps the learning profiles users set, from its own compacted topic.",
        per_replica=True,
    ),
    ConsumerGroup(
        "recommender-classes",
        "recommender",
        (CLASSGROUPS_CLASSES,),
        "Each recommender replica keeps class memberships and teachers, to scope teachers' figures by class.",
        per_replica=True,
    ),
    # --- classgroups ---------------------------------------------------------------------------------------
    ConsumerGroup(
        "classgroups-identity",
        "classgroups",
        ("identity.users.v1",),
        "Keeps class groups' directory of accounts (kinds, roles, schools, teacher verification, guardian links).",
    ),
    ConsumerGroup(
        "classgroups-accounts",
        "classgroups",
        (IDENTITY_ACCOUNTS,),
        "Rebuilds class groups' directory from identity's account snapshots (accounts older than the users topic).",
    ),
    ConsumerGroup(
        FEED_ROUTER,
        FEED_ROUTER,
        (
            CATALOG_RESOURCES,
            CLASSGROUPS_CHECKINS,
            CLASSGROUPS_CLASSES,
            CLASSGROUPS_COURSES,
            RECOMMENDER_LEARNING,
            VIEWSTATS_LEARNING,
        ),
        "Routes the offered events into each subscriber's feed topic, scoped and pseudonymised per subscriber.",
    ),
    ConsumerGroup(
        "classgroups-courses",
        "classgroups",
        (CLASSGROUPS_COURSE_REQUESTS,),
        "The single writer of each after-school course: applies its place requests in partition order.",
    ),
    ConsumerGroup(
        "classgroups-catalog",
        "classgroups",
        (CATALOG_RESOURCES,),
        "Keeps which catalog resources are published (ids and titles) for the studios' shared resources.",
    ),
    # --- xapi: learning events as xAPI statements to a Learning Record Store (services/xapi) ----------------
    *(
        ConsumerGroup(
            f"xapi-{name}",
            "xapi",
            (topic,),
            f"Exports {what} as xAPI statements to the Learning Record Store (offsets committed once it accepted).",
        )
        for name, topic, what in (
            ("heartbeats", VIEWSTATS_HEARTBEATS, "watch time (experienced)"),
            ("learning", VIEWSTATS_LEARNING, "study hours credited (completed)"),
            ("answers", RECOMMENDER_LEARNING, "graded answers (answered)"),
            ("checkins", CLASSGROUPS_CHECKINS, "check-ins submitted (completed)"),
        )
    ),
    ConsumerGroup(
        "classgroups-cache",
        "classgroups",
        (CLASSGROUPS_CLASSES,),
        "Each class groups replica drops from its cache the classes the service's own events say changed.",
        per_replica=True,
    ),
]


@dataclass(frozen=True)
class Acl:
    """One ALLOW rule for a principal (Kafka's resource types, pattern types and operation names)."""

    resource_type: str  # "topic" | "group" | "cluster"
    name: str
    pattern: str  # "literal" | "prefix"
    operations: tuple[str, ...]


@dataclass(frozen=True)
class Principal:
    """A Kafka login: one per process kind (locally a SCRAM user made by deploy/local/infra.sh, in Kubernetes a
    Strimzi ``KafkaUser`` of the same name). Its ACLs come from this module: it writes the topics it ``produces`` and
    the dead-letter topics of its groups, and reads the topics its consumer groups (``ConsumerGroup.service``) read,
    in those groups only."""

    name: str
    factory: str  # the app factory of the process kind that logs in as it (deploy/local/devstack.py, deploy/k8s)
    produces: tuple[str, ...] = ()
    description: str = ""
    extra: tuple[Acl, ...] = ()  # rules beyond produce/consume (the subscriber feeds' provisioning and routing)


ADMIN = "admin"  # super user: creates topics and ACLs; tests and benchmarks that are not about ACLs use it

PRINCIPALS: list[Principal] = [
    Principal(
        "catalog",
        "catalog.app:create_app",
        (CATALOG_RESOURCES, CATALOG_EDITORIAL, CATALOG_EXERCISES),
        "The catalog service.",
    ),
    Principal(
        "identity",
        "identity.app:create_app",
        (IDENTITY_USERS, IDENTITY_NOTIFICATIONS, IDENTITY_ACCOUNTS),
        "The identity service; registers subscriber systems: creates their feed topics, SCRAM users and ACLs "
        "(Alter on the cluster) and serves their feeds over HTTP (reads feed topics).",
        (
            Acl("cluster", "kafka-cluster", "literal", ("Alter",)),
            Acl("topic", FEED_PREFIX, "prefix", ("Create", "Describe", "Read")),
        ),
    ),
    Principal(
        FEED_ROUTER,
        "identity.feeds.app:create_app",
        (),
        "Identity's feed router: reads the offered platform topics, writes the subscribers' feed topics.",
        (Acl("topic", FEED_PREFIX, "prefix", ("Write", "Describe")),),
    ),
    Principal(
        "viewstats",
        "viewstats.app:create_app",
        (VIEWSTATS_POPULARITY, VIEWSTATS_LEARNING),
        "Viewstats' API process: the view aggregator and the learning-hours consumers.",
    ),
    Principal(
        "viewstats-collector",
        "viewstats.collector.app:create_app",
        (VIEWSTATS_VIEWS, VIEWSTATS_HEARTBEATS),
        "The public beacon and heartbeat collector: writes the raw topics, reads nothing.",
    ),
    Principal(
        "recommender",
        "recommender.app:create_app",
        (RECOMMENDER_LEARNING, RECOMMENDER_SERVED, RECOMMENDER_PROFILES),
        "The recommender service (the only reader of catalog.exercises.v1, which holds answer keys).",
    ),
    Principal(
        "classgroups",
        "classgroups.app:create_app",
        (
            CLASSGROUPS_CLASSES,
            CLASSGROUPS_CHECKINS,
            CLASSGROUPS_COURSE_REQUESTS,
            CLASSGROUPS_COURSES,
            CLASSGROUPS_STUDIOS,
        ),
        "The class groups service.",
    ),
    Principal(
        "xapi",
        "xapi.app:create_app",
        (),
        "The xAPI exporter: reads the learning topics, writes statements to the LRS (nothing to Kafka but its DLQs).",
    ),
]


def principal_of(factory: str) -> Principal:
    """The principal the process started from app factory ``factory`` logs in as."""
    for p in PRINCIPALS:
        if p.factory == factory:
            return p
    raise KeyError(f"no principal declared in common.topics for {factory}")


def acls(p: Principal, group_prefix: str = "") -> list[Acl]:
    """What ``p`` may do. Group ids are ``<group_prefix><group>`` (KAFKA_CLIENT_PREFIX), matched as a prefix for
    per-replica groups (each replica adds its own suffix)."""
    write, read = ("Write", "Describe"), ("Read", "Describe")
    out = [Acl("topic", t, "literal", write) for t in p.produces] + list(p.extra)
    for g in CONSUMER_GROUPS:
        if g.service != p.name:
            continue
        out.append(Acl("group", group_prefix + g.name, "prefix" if g.per_replica else "literal", read))
        out += [Acl("topic", t, "literal", read) for t in g.topics]
        out.append(Acl("topic", g.dead_letter_topic, "literal", write))
    if not any("Write" in a.operations for a in out):
        # Every service's producer is idempotent, and Kafka lets a principal with no Write on any topic start one
        # only with IdempotentWrite on the cluster (it grants nothing else).
        out.append(Acl("cluster", "kafka-cluster", "literal", ("IdempotentWrite",)))
    merged: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for a in out:  # one rule per resource (a service may read a topic for two groups)
        key = (a.resource_type, a.name, a.pattern)
        merged[key] = tuple(dict.fromkeys(merged.get(key, ()) + a.operations))
    return [Acl(t, n, pat, ops) for (t, n, pat), ops in merged.items()]


def read_credentials(path: Path) -> dict[str, str]:
    """Principal → password from the file deploy/local/infra.sh writes (``KAFKA_PASSWORD_<PRINCIPAL>=…``)."""
    names = {f"KAFKA_PASSWORD_{n.upper().replace('-', '_')}": n for n in (ADMIN, *(p.name for p in PRINCIPALS))}
    out = {}
    for line in path.read_text().splitlines():
        var, _, value = line.partition("=")
        if var in names:
            out[names[var]] = value
    return out


def dead_letter_topics() -> list[Topic]:
    return [
        Topic(g.dead_letter_topic, 3, 30 * DAY_MS, description=f"Dead letters of consumer group {g.name}.")
        for g in CONSUMER_GROUPS
    ]


def all_topics() -> list[Topic]:
    return TOPICS + dead_letter_topics()


def group(name: str) -> ConsumerGroup:
    for g in CONSUMER_GROUPS:
        if g.name == name:
            return g
    raise KeyError(f"consumer group {name!r} is not declared in common.topics")


def topic(name: str) -> Topic:
    for t in all_topics():
        if t.name == name:
            return t
    raise KeyError(f"topic {name!r} is not declared in common.topics")


async def create_topics(
    kafka: dict[str, Any], topics: list[Topic] | None = None, *, with_acls: bool = False, group_prefix: str = ""
) -> list[str]:
    """Create the declared topics that do not exist yet (and, ``with_acls``, the principals' ACLs); returns the
    names created. ``kafka``: the admin principal's settings or client options (``common.kafka.kafka_client_options``).
    Existing topics are left alone (changing partitions or configs of a live topic is an operator's decision)."""
    from aiokafka.admin import NewTopic

    from common.kafka import kafka_admin

    topics = topics if topics is not None else all_topics()
    admin = kafka_admin(kafka)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            await admin.create_topics([NewTopic(t.name, t.partitions, 1, topic_configs=t.configs()) for t in missing])
        if with_acls:
            await create_acls(admin, group_prefix)
        return [t.name for t in missing]
    finally:
        await admin.close()


# Kafka's protocol codes (org.apache.kafka.common.acl / resource): CreateAcls v1.
_RESOURCE_TYPE = {"topic": 2, "group": 3, "cluster": 4}
_PATTERN_TYPE = {"literal": 3, "prefix": 4}
_OPERATION = {"Read": 3, "Write": 4, "Create": 5, "Alter": 7, "Describe": 8, "IdempotentWrite": 12}
_ALLOW = 3
_CLUSTER_AUTHORIZATION_FAILED = 31


async def create_acls(admin: Any, group_prefix: str = "") -> int:
    """Create every declared principal's ACLs (idempotent: Kafka keeps one copy of an ACL created twice); returns
    how many rules were sent. aiokafka's admin client has no ``create_acls``; its protocol module has the request.
    Rules of a principal that lost a permission in this list are not removed here (an operator's decision, as for
    topics; in Kubernetes the Strimzi User Operator reconciles them)."""
    from aiokafka.protocol.admin import CreateAclsRequest

    sent = 0
    for p in PRINCIPALS:
        for a in acls(p, group_prefix):
            for op in a.operations:
                request = CreateAclsRequest(
                    _RESOURCE_TYPE[a.resource_type],
                    a.name,
                    _PATTERN_TYPE[a.pattern],
                    f"User:{p.name}",
                    "*",
                    _OPERATION[op],
                    _ALLOW,
                )
                response = await admin._send_request(request)
                for error_code, error_message in response.creation_responses:
                    if error_code == _CLUSTER_AUTHORIZATION_FAILED:
                        raise PermissionError("this login may not create ACLs (that needs ALTER on the cluster)")
                    if error_code:
                        raise RuntimeError(f"CreateAcls {p.name} {a} {op}: error {error_code} {error_message}")
                sent += 1
    return sent


def render_k8s() -> dict[str, str]:
    """Strimzi resources for every topic and one KafkaUser per principal, as file name → YAML."""
    out: dict[str, str] = {}
    docs = []
    for t in all_topics():
        config = "\n".join(f'    {k}: "{v}"' for k, v in sorted(t.configs().items()))
        docs.append(
            f"""apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata:
  name: {t.name.replace(".", "-")}
  labels:
    strimzi.io/cluster: smartedu
  annotations:
    smartedu.cn/description: "{t.description}"
spec:
  topicName: {t.name}
  partitions: {t.partitions}
  replicas: 3
  config:
{config}
    min.insync.replicas: "2"
"""
        )
    out["kafka-topics.yaml"] = "---\n".join(docs)
    users = []
    for p in PRINCIPALS:  # the same rules deploy/local/infra.sh's broker gets (create_acls), group prefix ""
        rules = []
        for a in acls(p):
            resource = (
                "{type: cluster}"
                if a.resource_type == "cluster"
                else f'{{type: {a.resource_type}, name: "{a.name}", patternType: {a.pattern}}}'
            )
            rules.append(f"      - resource: {resource}\n        operations: [{', '.join(a.operations)}]")
        users.append(
            f"""apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaUser
metadata:
  name: {p.name}
  labels:
    strimzi.io/cluster: smartedu
  annotations:
    smartedu.cn/description: "{p.description}"
spec:
  # The User Operator writes the password into the Secret `{p.name}` (key `password`), which the process reads.
  authentication:
    type: scram-sha-512
  authorization:
    type: simple
    acls:
{chr(10).join(rules)}
"""
        )
    out["kafka-users.yaml"] = "---\n".join(users)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.topics")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("create", help="create the declared topics that are missing")
    k8s = sub.add_parser("k8s", help="render Strimzi resources")
    k8s.add_argument("--out", default="deploy/k8s/base/kafka")
    sub.add_parser("list", help="print the declared topics")
    sub.add_parser("principals", help="print the Kafka principals (deploy/local/infra.sh makes their SCRAM users)")
    args = parser.parse_args(argv)
    if args.command == "create":
        from common.kafka import kafka_client_options
        from common.settings import ServiceSettings

        settings = ServiceSettings()
        secured = settings.kafka_security_protocol != "PLAINTEXT"
        try:
            created = asyncio.run(
                create_topics(
                    kafka_client_options(settings), with_acls=secured, group_prefix=settings.kafka_client_prefix
                )
            )
        except PermissionError as exc:  # a broker of someone else's (KAFKA_BOOTSTRAP_SERVERS): its ACLs are theirs
            print(f"ACLs not created: {exc}; the broker's operator manages them", file=sys.stderr)
            return 0
        print(
            f"topics: {len(all_topics())} declared, {len(created)} created"
            + (f": {', '.join(created)}" if created else "")
            + (f"; ACLs of {len(PRINCIPALS)} principals in place" if secured else "")
        )
    elif args.command == "principals":
        print(" ".join([ADMIN, *(p.name for p in PRINCIPALS)]))
    elif args.command == "k8s":
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in render_k8s().items():
            (out / name).write_text("# Generated by `python -m common.topics k8s` from libs/common/topics.py.\n" + text)
            print(f"wrote {out / name}")
    else:
        for t in all_topics():
            print(f"{t.name:40} {t.partitions:3} {t.cleanup_policy:8} {t.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
