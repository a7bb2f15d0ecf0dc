"""Reference data of the catalog: sections (板块) and their columns (栏目), school stages (学段), grades,
subjects, provinces. Codes are stable ASCII identifiers used in URLs, filters and events; names are what
users read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """A column (栏目) within a section."""

    code: str
    name: str


@dataclass(frozen=True)
class Section:
    """A section (板块) of the platform, e.g. 课后服务 with its columns 科普教育, 体育锻炼 …"""

    code: str
    name: str
    columns: tuple[Column, ...]

    def column(self, code: str) -> Column | None:
        return next((c for c in self.columns if c.code == code), None)


def _cols(*pairs: str) -> tuple[Column, ...]:
    return tuple(Column(c, n) for c, n in (p.split(":") for p in pairs))


SECTIONS: tuple[Section, ...] = (
    Section(
        "moral_education",
        "德育",
        _cols(
            "party_history:党史学习",
            "patriotism:爱国主义",
            "constitution_law:宪法法治",
            "traditional_culture:中华优秀传统文化",
        ),
    ),
    Section("course_teaching", "课程教学", _cols("synchronous_class:同步课堂")),
    Section("physical_education", "体育", _cols("health_knowledge:健康知识", "sports_skills:运动技能")),
    Section("arts_education", "美育", _cols("music_appreciation:音乐欣赏", "art_appreciation:美术欣赏")),
    Section("labour_education", "劳动教育", _cols("labour_practice:劳动实践")),
    Section(
        "after_school",
        "课后服务",
        _cols(
            "science_popularization:科普教育",
            "physical_exercise:体育锻炼",
            "culture_arts:文化艺术",
            "classic_reading:经典阅读",
            "study_travel:研学实践",
            "film_education:影视教育",
        ),
    ),
    Section(
        "special_education",
        "特殊教育",
        _cols(
            "policy:特教政策",
            "teachers:特教师资",
            "experience:特教经验",
            "textbooks:特教教材",
            "inclusive:融合教育",
            "activities:特教活动",
            "teaching_resources:教学资源",
        ),
    ),
    Section(
        "teacher_training",
        "教师研修",
        _cols(
            "ethics:思政师德",
            "general:通识研修",
            "subject:学科研修",
            "assignment_design:作业命题",
            "preschool:幼教研修",
            "special:特教研修",
        ),
    ),
    Section("family_education", "家庭教育", _cols("concepts:观念", "methods:方法", "guidance:指导")),
    Section(
        "reform_experience",
        "教改经验",
        _cols("classroom_reform:课堂教学改革", "assignment_reform:作业改革", "evaluation_reform:评价改革"),
    ),
    Section("textbooks", "教材", _cols("e_textbooks:电子教材")),
    # Local channels are opened per province at run time; their "columns" are the provinces' channels.
    Section("local_channels", "地方频道", ()),
)
SECTIONS_BY_CODE = {s.code: s for s in SECTIONS}

STAGES: dict[str, str] = {"primary": "小学", "junior": "初中", "senior": "高中"}
STAGE_GRADES: dict[str, tuple[int, ...]] = {"primary": (1, 2, 3, 4, 5, 6), "junior": (7, 8, 9), "senior": (10, 11, 12)}
GRADE_NAMES: dict[int, str] = {
    1: "一年级",
    2: "二年级",
    3: "三年级",
    4: "四年级",
    5: "五年级",
    6: "六年级",
    7: "七年级",
    8: "八年级",
    9: "九年级",
    10: "高一",
    11: "高二",
    12: "高三",
}

SUBJECTS: dict[str, str] = {
    "chinese": "语文",
    "math": "数学",
    "english": "英语",
    "morality_law": "道德与法治",
    "science": "科学",
    "music": "音乐",
    "art": "美术",
    "pe_health": "体育与健康",
    "labour": "劳动",
    "it": "信息科技",
    "physics": "物理",
    "chemistry": "化学",
    "biology": "生物学",
    "history": "历史",
    "geography": "地理",
    "politics": "思想政治",
}

PROVINCES: dict[str, str] = {
    "bj": "北京",
    "tj": "天津",
    "he": "河北",
    "sx": "山西",
    "nm": "内蒙古",
    "ln": "辽宁",
    "jl": "吉林",
    "hl": "黑龙江",
    "sh": "上海",
    "js": "江苏",
    "zj": "浙江",
    "ah": "安徽",
    "fj": "福建",
    "jx": "江西",
    "sd": "山东",
    "ha": "河南",
    "hb": "湖北",
    "hn": "湖南",
    "gd": "广东",
    "gx": "广西",
    "hi": "海南",
    "cq": "重庆",
    "sc": "四川",
    "gz": "贵州",
    "yn": "云南",
    "xz": "西藏",
    "sn": "陕西",
    "gs": "甘肃",
    "qh": "青海",
    "nx": "宁夏",
    "xj": "新疆",
}

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
