"""Reference data only the catalog uses: resource kinds, provider kinds, licenses. The platform's shared
vocabulary (sections and columns, stages, grades, subjects, provinces) is :mod:`common.reference`, re-exported
here for the catalog's modules."""

from __future__ import annotations

from common.reference import (
    GRADE_NAMES,
    GRADES,
    LOCAL_CHANNELS,
    PROVINCE_NAMES,
    PROVINCES,
    SECTIONS,
    SECTIONS_BY_CODE,
    STAGE_GRADES,
    STAGES,
    SUBJECTS,
    Column,
    Section,
    province_code,
)

__all__ = [
    "GRADES",
    "GRADE_NAMES",
    "LICENSES",
    "LOCAL_CHANNELS",
    "PROVIDER_KINDS",
    "PROVINCES",
    "PROVINCE_NAMES",
    "RESOURCE_KINDS",
    "SECTIONS",
    "SECTIONS_BY_CODE",
    "STAGES",
    "STAGE_GRADES",
    "SUBJECTS",
    "Column",
    "Section",
    "province_code",
]

RESOURCE_KINDS: dict[str, str] = {
    "video_lesson": "课程视频",
    "courseware": "课件",
    "exercise_set": "练习与作业设计",
    "document": "学习任务单/文档",
    "e_textbook": "电子教材",
    "external_link": "外部链接",
    "live_session": "直播",
}
PROVIDER_KINDS: dict[str, str] = {
    "central_agency": "中央单位",
    "province": "省级",
    "university": "高校",
    "publisher": "出版社",
}
LICENSES = ("CC-BY-NC-ND-4.0", "platform-internal", "publisher-copyright")
