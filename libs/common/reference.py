"""The platform's one vocabulary: provinces (GB/T 2260), sections (板块) and their columns (栏目), school stages
(学段), grades, subjects, and the Beijing time zone. Every service imports these from here, so that a province,
a section or a subject is spelled one way in every store, event, URL and figure: a local-channel resource of
Hunan (``43``) is in the scope of ``province_admin@cn/43`` and in viewstats' figures of province ``43``.

Codes are stable ASCII identifiers used in URLs, filters, stored documents and events; names are what users
read. Provinces are keyed by their two-digit GB/T 2260 code (the first two digits of every division code,
which is also how identity's org paths start: ``cn/43/4301/...``). Their letter abbreviation (``hn``, the
ISO 3166-2:CN letters the catalog once used for local channels) and pinyin slug (``hunan``) are accepted as
input by :func:`province_code` and never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

# --- time --------------------------------------------------------------------------------------------------
BEIJING = timezone(timedelta(hours=8))
"""China Standard Time. A fixed offset, not ``ZoneInfo("Asia/Shanghai")``: China has kept UTC+8 without
daylight saving since 1991 (before every date the platform stores), and a fixed offset needs no tz database in
the image and is cheaper on hot paths. The platform's day (statistics, certificates, streaks) is this day."""
BEIJING_ZONE_NAME = "Asia/Shanghai"
"""The IANA name of the same zone, for clients and documents."""
BEIJING_OFFSET_MS = 8 * 3600 * 1000


def beijing_date(at: datetime) -> date:
    """The school day an instant falls on: the calendar date in Beijing (a naive time is taken as UTC)."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(BEIJING).date()


# --- provinces ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Province:
    """A provincial-level division (省级行政区)."""

    code: str
    """GB/T 2260 code, two digits (``43``)."""
    name: str
    """Official name (``湖南省``)."""
    short: str
    """Short name as the platform shows it (``湖南``: 地方频道 · 湖南)."""
    slug: str
    """Pinyin (``hunan``; 山西 ``shanxi``, 陕西 ``shaanxi``)."""
    abbr: str
    """ISO 3166-2:CN letters (``hn``): the catalog's former local-channel code, accepted as input only."""
    country: str = "CN"
    """ISO 3166-1 alpha-2 code of the region its visitors are counted in (Taiwan, Hong Kong and Macao have their
    own)."""

    @property
    def org_path(self) -> str:
        """The province's node in identity's administrative hierarchy, the scope of its province admins."""
        return f"{ORG_ROOT}/{self.code}"


ORG_ROOT = "cn"
"""The root of identity's administrative hierarchy (the country); a province's node is ``cn/<code>``."""


def _province(line: str) -> Province:
    code, name, short, slug, abbr, *country = line.split()
    return Province(code, name, short, slug, abbr, *country)


# GB/T 2260: 23 provinces, 5 autonomous regions, 4 municipalities, 2 special administrative regions.
PROVINCES: dict[str, Province] = {
    p.code: p
    for p in map(
        _province,
        (
            "11 北京市 北京 beijing bj",
            "12 天津市 天津 tianjin tj",
            "13 河北省 河北 hebei he",
            "14 山西省 山西 shanxi sx",
            "15 内蒙古自治区 内蒙古 neimenggu nm",
            "21 辽宁省 辽宁 liaoning ln",
            "22 吉林省 吉林 jilin jl",
            "23 黑龙江省 黑龙江 heilongjiang hl",
            "31 上海市 上海 shanghai sh",
            "32 江苏省 江苏 jiangsu js",
            "33 浙江省 浙江 zhejiang zj",
            "34 安徽省 安徽 anhui ah",
            "35 福建省 福建 fujian fj",
            "36 江西省 江西 jiangxi jx",
            "37 山东省 山东 shandong sd",
            "41 河南省 河南 henan ha",
            "42 湖北省 湖北 hubei hb",
            "43 湖南省 湖南 hunan hn",
            "44 广东省 广东 guangdong gd",
            "45 广西壮族自治区 广西 guangxi gx",
            "46 海南省 海南 hainan hi",
            "50 重庆市 重庆 chongqing cq",
            "51 四川省 四川 sichuan sc",
            "52 贵州省 贵州 guizhou gz",
            "53 云南省 云南 yunnan yn",
            "54 西藏自治区 西藏 xizang xz",
            "61 陕西省 陕西 shaanxi sn",
            "62 甘肃省 甘肃 gansu gs",
            "63 青海省 青海 qinghai qh",
            "64 宁夏回族自治区 宁夏 ningxia nx",
            "65 新疆维吾尔自治区 新疆 xinjiang xj",
            "71 台湾省 台湾 taiwan tw TW",
            "81 香港特别行政区 香港 xianggang hk HK",
            "82 澳门特别行政区 澳门 aomen mo MO",
        ),
    )
}
PROVINCE_NAMES: dict[str, str] = {code: p.short for code, p in PROVINCES.items()}
"""Code → short name (``43`` → ``湖南``)."""

_PROVINCE_SPELLINGS: dict[str, str] = {
    spelling: p.code for p in PROVINCES.values() for spelling in (p.code, p.abbr, p.slug)
}


def province_code(value: object) -> str | None:
    """The GB/T 2260 code of a province given as its code (``43``), its former letter code (``hn``, any case) or
    its pinyin slug (``hunan``); None for anything else. The one check of "is this a province" every service
    makes (catalog inputs, beacons, the IP table, scopes)."""
    if not isinstance(value, str):
        return None
    return _PROVINCE_SPELLINGS.get(value if value in PROVINCES else value.lower())


def country_of_province(code: str | None) -> str:
    """The ISO 3166-1 region a province's visitors count in: ``CN``, or ``TW``/``HK``/``MO``; ``ZZ`` (unknown)
    without a province."""
    p = PROVINCES.get(code) if code else None
    return p.country if p else ("CN" if code else "ZZ")


def province_of_org(path: str | None, *, exact: bool = False) -> str | None:
    """The province an org path of identity's hierarchy lies in (``cn/43/4301/...`` → ``43``), or None (the
    root, a provider node, not a path). ``exact``: only the province's own node (``cn/43``), the scope of a
    province admin."""
    parts = (path or "").rstrip("/").split("/")
    if len(parts) < 2 or parts[0] != ORG_ROOT or (exact and len(parts) != 2):
        return None
    return parts[1] if parts[1] in PROVINCES else None


# --- sections and columns ----------------------------------------------------------------------------------
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


LOCAL_CHANNELS = "local_channels"
"""The section of the provinces' own channels (地方频道): its resources name their province (``local_channel``,
a GB/T 2260 code) instead of a column."""

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
    # Local channels are the provinces' (PROVINCES): a resource there names its province, not a column.
    Section(LOCAL_CHANNELS, "地方频道", ()),
)
SECTIONS_BY_CODE: dict[str, Section] = {s.code: s for s in SECTIONS}

# --- stages, grades, subjects --------------------------------------------------------------------------------
STAGES: dict[str, str] = {"primary": "小学", "junior": "初中", "senior": "高中"}
STAGE_GRADES: dict[str, tuple[int, ...]] = {"primary": (1, 2, 3, 4, 5, 6), "junior": (7, 8, 9), "senior": (10, 11, 12)}
GRADES: tuple[int, ...] = tuple(g for gs in STAGE_GRADES.values() for g in gs)
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
