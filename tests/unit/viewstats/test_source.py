"""The views topic a database counts: only that topic, by name and by Kafka's topic id."""

import pytest

from viewstats.domain.source import ForeignTopic, Source, check

pytestmark = pytest.mark.unit

COUNTED = Source("viewstats.views.v1", "vmV7X9i5TGKhqD8XoJW7RQ")


def test_the_counted_topic_passes():
    check(COUNTED, Source("viewstats.views.v1", "vmV7X9i5TGKhqD8XoJW7RQ"))


def test_the_same_name_recreated_is_refused_as_recreated():
    with pytest.raises(ForeignTopic, match=r"viewstats\.views\.v1 \(topic id Xio9\S*\) was recreated") as e:
        check(COUNTED, Source("viewstats.views.v1", "Xio931tMR++ndBPuvR/v2Q"))
    assert e.value.recorded == COUNTED and "python -m viewstats.rebase" in str(e.value)


def test_another_topic_is_refused_as_another():
    with pytest.raises(ForeignTopic, match=r"is another topic: this database counted viewstats\.views\.v1"):
        check(COUNTED, Source("viewstats.views.v2", "vmV7X9i5TGKhqD8XoJW7RQ"))
