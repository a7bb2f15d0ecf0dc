"""Deterministic demo catalog at the real platform's scale (2024): 12 sections, 36 columns, 65 textbook
versions, 565 volumes, 19,508 lessons, 88,000 resources, with realistic Chinese titles.

Same seed, same bytes. Emitted as JSONL for the bulk import: tree nodes first (``{"type": "node", …}``),
then resources (``{"type": "resource", …}``). ``python deploy/local/demo_catalog.py --out demo.jsonl``
(demo tooling, not part of the catalog service: ``deploy/local/demo.py`` imports it through the public API).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from typing import Any

import orjson

from catalog.domain.reference import GRADE_NAMES, PROVINCE_NAMES, PROVINCES, SECTIONS, STAGE_GRADES, STAGES, SUBJECTS

# The 31 mainland divisions, in GB/T 2260 order (the demo data stays what it was before Taiwan, Hong Kong and Macao
# joined the one province table); provincial providers keep their former ids (prov-hn).
_MAINLAND = [p for p in PROVINCES.values() if p.country == "CN"]

TARGET_VERSIONS, TARGET_VOLUMES, TARGET_LESSONS, TARGET_RESOURCES = 65, 565, 19_508, 88_000
E_TEXTBOOKS = 2_004

# (stage, subject, editions, grades) — one textbook version per edition.
_SERIES: list[tuple[str, str, tuple[str, ...], tuple[int, ...] | None]] = [
    ("primary", "chinese", ("统编版",), None),
    ("primary", "math", ("人教版", "北师大版", "苏教版", "北京版", "青岛版", "冀教版", "西师大版", "沪教版"), None),
    ("primary", "english", ("人教PEP版", "外研版", "译林版", "北京版", "沪教牛津版", "湘少版"), (3, 4, 5, 6)),
    ("primary", "morality_law", ("统编版",), None),
    ("primary", "science", ("教科版", "苏教版", "人教鄂教版", "青岛版", "冀人版"), None),
    ("primary", "music", ("人音版", "湘艺版", "花城版", "人教版"), None),
    ("primary", "art", ("人美版", "湘美版", "岭南版", "人教版"), None),
    ("primary", "pe_health", ("人教版", "华东师大版"), None),
    ("primary", "labour", ("人教版", "苏科版"), None),
    ("primary", "it", ("清华大学版", "浙教版", "川教版"), (3, 4, 5, 6)),
    ("junior", "chinese", ("统编版",), None),
    ("junior", "math", ("人教版", "北师大版", "华东师大版", "湘教版", "沪科版"), None),
    ("junior", "english", ("人教版", "外研版", "译林版", "仁爱版"), None),
    ("junior", "morality_law", ("统编版",), None),
    ("junior", "history", ("统编版",), None),
    ("junior", "geography", ("人教版", "湘教版"), (7, 8)),
    ("junior", "biology", ("人教版", "北师大版"), (7, 8)),
    ("junior", "physics", ("人教版", "沪科版"), (8, 9)),
    ("junior", "chemistry", ("人教版", "沪教版"), (9,)),
    ("senior", "chinese", ("统编版",), None),
    ("senior", "math", ("人教A版", "人教B版"), None),
    ("senior", "english", ("人教版", "外研版"), None),
    ("senior", "physics", ("人教版",), None),
    ("senior", "chemistry", ("人教版",), None),
    ("senior", "biology", ("人教版",), None),
    ("senior", "politics", ("统编版",), None),
]
_EDITION_CODES = {
    "统编版": "tb",
    "人教版": "pep",
    "北师大版": "bnu",
    "苏教版": "sj",
    "北京版": "bj",
    "青岛版": "qd",
    "冀教版": "jj",
    "西师大版": "xs",
    "沪教版": "hj",
    "人教PEP版": "peppep",
    "外研版": "fltrp",
    "译林版": "yl",
    "沪教牛津版": "hjox",
    "湘少版": "xs2",
    "教科版": "jk",
    "人教鄂教版": "pepej",
    "冀人版": "jr",
    "人音版": "ry",
    "湘艺版": "xy",
    "花城版": "hc",
    "人美版": "rm",
    "湘美版": "xm",
    "岭南版": "ln",
    "华东师大版": "ecnu",
    "苏科版": "sk",
    "清华大学版": "thu",
    "浙教版": "zj",
    "川教版": "cj",
    "湘教版": "xj",
    "沪科版": "hk",
    "仁爱版": "ra",
    "人教A版": "pepa",
    "人教B版": "pepb",
}
_SENIOR_BASE = {"chinese": 5, "math": 5, "english": 7, "physics": 6, "chemistry": 5, "biology": 5, "politics": 7}

_TOPICS: dict[str, list[str]] = {
    "math": [
        "分数的意义和性质",
        "分数的加法和减法",
        "小数乘法",
        "小数除法",
        "多边形的面积",
        "长方体和正方体",
        "因数与倍数",
        "简易方程",
        "位置与方向",
        "统计与概率",
        "圆",
        "百分数",
        "比和比例",
        "负数",
        "圆柱与圆锥",
        "图形的运动",
        "运算定律",
        "三角形",
        "平行四边形和梯形",
        "大数的认识",
        "角的度量",
        "两位数乘两位数",
        "有理数",
        "整式的加减",
        "一元一次方程",
        "相交线与平行线",
        "实数",
        "平面直角坐标系",
        "二元一次方程组",
        "不等式与不等式组",
        "全等三角形",
        "轴对称",
        "勾股定理",
        "一次函数",
        "二次函数",
        "旋转",
        "相似",
        "锐角三角函数",
        "集合与常用逻辑用语",
        "函数的概念与性质",
        "指数函数与对数函数",
        "三角函数",
        "平面向量",
        "复数",
        "立体几何初步",
        "数列",
        "导数及其应用",
    ],
    "chinese": [
        "四季之美",
        "观察与发现",
        "民间故事",
        "古诗词诵读",
        "童年往事",
        "革命传统",
        "家国情怀",
        "自然之趣",
        "神话传说",
        "科学精神",
        "走进名著",
        "演讲与辩论",
        "文言文阅读",
        "人物传记",
        "家乡风物",
        "中华传统节日",
        "写景状物",
        "思辨性阅读",
        "实用类文本",
        "乡土中国",
        "红楼梦整本书阅读",
        "文学阅读与写作",
    ],
    "english": [
        "Hello!",
        "My school",
        "My family",
        "Colours",
        "At the zoo",
        "Weather",
        "My day",
        "Seasons",
        "Shopping",
        "Healthy food",
        "Festivals",
        "Travel plans",
        "School life",
        "Friendship",
        "Sports and games",
        "Nature",
        "Technology",
        "Culture and history",
        "Environmental protection",
        "Careers",
    ],
    "science": [
        "植物的生长",
        "动物的一生",
        "水的变化",
        "空气",
        "声音",
        "光",
        "电路",
        "磁铁",
        "岩石与土壤",
        "天气",
        "地球与宇宙",
        "物质的变化",
        "能量",
        "生物与环境",
        "简单机械",
        "我们的身体",
    ],
    "physics": [
        "机械运动",
        "声现象",
        "光现象",
        "质量与密度",
        "力",
        "压强",
        "浮力",
        "功和机械能",
        "电流和电路",
        "欧姆定律",
        "电功率",
        "运动的描述",
        "相互作用",
        "牛顿运动定律",
        "曲线运动",
        "万有引力",
        "静电场",
        "电磁感应",
    ],
    "chemistry": [
        "走进化学世界",
        "空气和氧气",
        "物质构成的奥秘",
        "自然界的水",
        "化学方程式",
        "碳和碳的氧化物",
        "金属和金属材料",
        "溶液",
        "酸和碱",
        "盐和化肥",
        "物质的量",
        "化学反应与能量",
        "有机化合物",
    ],
    "biology": [
        "细胞是生命活动的基本单位",
        "生物圈中的绿色植物",
        "人体的营养",
        "人体的呼吸",
        "生物的遗传和变异",
        "生态系统",
        "分子与细胞",
        "遗传与进化",
        "稳态与调节",
        "生物与环境",
    ],
    "history": [
        "中国古代史",
        "秦汉时期",
        "三国两晋南北朝",
        "隋唐时期",
        "宋元时期",
        "明清时期",
        "中国近代史",
        "中华人民共和国史",
        "世界古代史",
        "世界近代史",
    ],
    "geography": [
        "地球和地图",
        "陆地和海洋",
        "天气与气候",
        "居民与聚落",
        "中国的疆域与人口",
        "中国的自然环境",
        "中国的经济发展",
        "中国的地理差异",
    ],
    "morality_law": [
        "我们的学校",
        "我们的家庭",
        "公共生活",
        "法律在身边",
        "宪法精神",
        "中华文化",
        "生命安全",
        "做情绪的主人",
        "走向世界",
    ],
    "politics": [
        "中国特色社会主义",
        "经济与社会",
        "政治与法治",
        "哲学与文化",
        "当代国际政治与经济",
        "法律与生活",
        "逻辑与思维",
    ],
}
# 人教版 五年级下册, as the real book; other primary math volumes draw from the stage's pool.
_PRIMARY_MATH_G5B = [
    "观察物体（三）",
    "因数与倍数",
    "长方体和正方体",
    "分数的意义和性质",
    "位置与方向",
    "分数的加法和减法",
    "折线统计图",
    "找次品",
    "数学广角",
]
_STAGE_SLICES = {"math": {"primary": (0, 22), "junior": (22, 38), "senior": (38, 47)}}
_GENERIC_TOPICS = ["基础知识", "欣赏与表现", "实践与探究", "综合活动", "创意设计", "合作与展示", "拓展与应用"]
_LESSON_PATTERNS = ["{t}", "认识{t}", "{t}的应用", "{t}（二）", "{t}（三）", "练习课", "整理和复习", "{t}（四）"]

_RESOURCE_TEXT = {
    "video_lesson": ("课程视频", "名师授课视频，讲解{lesson}的重点与难点。"),
    "courseware": ("课件", "配套教学课件，呈现{lesson}的情境导入、新知探究与课堂练习。"),
    "exercise_set": ("课后练习与作业设计", "分层作业设计：基础巩固、能力提升与拓展探究，对应{lesson}。"),
    "document": ("学习任务单", "学生自主学习任务单，引导预习与复习{lesson}。"),
}

_OTHER_TOPICS: dict[str, list[str]] = {
    "party_history": ["红船精神", "长征故事", "党的光辉历程", "英雄人物"],
    "patriotism": ["国旗国歌", "大国工匠", "美丽中国"],
    "constitution_law": ["宪法宣传周", "未成年人保护法", "校园防欺凌"],
    "traditional_culture": ["二十四节气", "汉字之美", "非遗传承"],
    "health_knowledge": ["近视防控", "科学用眼", "营养与健康"],
    "sports_skills": ["跳绳", "篮球运球", "广播体操", "足球射门"],
    "music_appreciation": ["民族器乐", "交响乐入门", "中国民歌"],
    "art_appreciation": ["中国画", "敦煌艺术", "剪纸"],
    "labour_practice": ["整理与收纳", "烹饪与营养", "农业生产劳动", "传统工艺制作"],
    "science_popularization": ["中国天眼", "航天梦", "走进数字科技馆", "恐龙世界"],
    "physical_exercise": ["居家锻炼", "体能训练", "趣味田径"],
    "culture_arts": ["戏曲进校园", "书法入门", "合唱指导"],
    "classic_reading": ["经典诵读", "名著导读", "诗词大会"],
    "study_travel": ["数字敦煌", "故宫博物院", "国家博物馆"],
    "film_education": ["优秀影片赏析", "电影中的科学"],
    "policy": ["特殊教育提升计划", "随班就读政策"],
    "teachers": ["特教教师专业发展"],
    "experience": ["送教上门经验"],
    "textbooks": ["盲校教材", "聋校教材", "培智教材"],
    "inclusive": ["融合教育课堂", "资源教室建设"],
    "activities": ["特奥运动"],
    "teaching_resources": ["康复训练", "手语教学"],
    "ethics": ["师德师风", "教育家精神", "思政课建设"],
    "general": ["信息技术应用能力", "班主任工作", "心理健康教育"],
    "subject": ["大单元教学设计", "跨学科主题学习", "新课标解读"],
    "assignment_design": ["作业设计与实施", "命题能力提升"],
    "preschool": ["幼小衔接", "游戏活动设计"],
    "special": ["个别化教育计划"],
    "concepts": ["家庭教育促进法", "亲子沟通"],
    "methods": ["习惯养成", "情绪管理", "家校共育"],
    "guidance": ["学段家庭教育指导", "青春期教育"],
    "classroom_reform": ["双减背景下的课堂改革", "项目式学习"],
    "assignment_reform": ["作业总量控制", "个性化作业"],
    "evaluation_reform": ["综合素质评价", "过程性评价"],
}
_PROVIDERS = {
    "central_agency": ["cea-ncet", "cea-moe-bj", "cea-cctv"],  # central agencies
    "province": [f"prov-{p.abbr}" for p in _MAINLAND],
    "university": ["univ-bnu", "univ-ecnu", "univ-nenu", "univ-swu"],
    "publisher": [f"pub-{i:02d}" for i in range(1, 68)],  # 67 publishers
}


def _volume_names(stage: str, subject: str, grades: tuple[int, ...], n: int) -> list[tuple[int, str]]:
    if stage != "senior":
        if subject == "physics" and grades == (8, 9):
            return [(8, "八年级上册"), (8, "八年级下册"), (9, "九年级全一册")]
        return [(g, f"{GRADE_NAMES[g]}{term}") for g in grades for term in ("上册", "下册")]
    cn = "一二三四五六七八九十"
    names = []
    for i in range(n):
        if i < 2 or (subject in ("english", "physics", "politics") and i < 3) or (subject == "politics" and i < 4):
            names.append(f"必修第{cn[i]}册")
        else:
            names.append(f"选择性必修第{cn[len([x for x in names if x.startswith('选择性')])]}册")
    if subject == "chinese":
        names = ["必修上册", "必修下册", "选择性必修上册", "选择性必修中册", "选择性必修下册", *names[5:]]
    return [(10 + min(i * 3 // max(n, 1), 2), name) for i, name in enumerate(names)]


def _versions() -> list[dict[str, Any]]:
    out = []
    for stage, subject, editions, grades in _SERIES:
        for edition in editions:
            gs = grades or STAGE_GRADES[stage]
            n = _SENIOR_BASE.get(subject, 0) if stage == "senior" else 0
            out.append({"stage": stage, "subject": subject, "edition": edition, "grades": gs, "n": n})
    # Senior series take up the remaining volumes (选修 volumes are what varies between editions).
    fixed = sum(
        len(_volume_names(v["stage"], v["subject"], v["grades"], v["n"])) for v in out if v["stage"] != "senior"
    )
    senior = [v for v in out if v["stage"] == "senior"]
    rest = TARGET_VOLUMES - fixed - sum(v["n"] for v in senior)
    i = 0
    while rest > 0:
        senior[i % len(senior)]["n"] += 1
        rest, i = rest - 1, i + 1
    return out


def _spread(total: int, parts: int, rng: random.Random, low: int, high: int) -> list[int]:
    """``parts`` integers in [low, high] summing to ``total`` (random but seeded)."""
    xs = [rng.randint(low, high) for _ in range(parts)]
    diff = total - sum(xs)
    i = 0
    while diff:
        j = i % parts
        if diff > 0 and xs[j] < high:
            xs[j] += 1
            diff -= 1
        elif diff < 0 and xs[j] > low:
            xs[j] -= 1
            diff += 1
        i += 1
    return xs


def generate(seed: int = 2024) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    versions = _versions()
    volumes: list[tuple[dict[str, Any], str, int, int, str]] = []  # (version, id, grade, order, name)
    for v in versions:
        code = f"tv.{_EDITION_CODES[v['edition']]}.{v['stage']}.{v['subject']}"
        v["id"] = code
        yield {
            "type": "node",
            "id": code,
            "node_type": "textbook_version",
            "parent_id": None,
            "title": f"{v['edition']} {SUBJECTS[v['subject']]}（{STAGES[v['stage']]}）",
            "order": 0,
            "stage": v["stage"],
            "subject": v["subject"],
            "grade": None,
            "edition": v["edition"],
        }
        for order, (grade, name) in enumerate(_volume_names(v["stage"], v["subject"], v["grades"], v["n"])):
            volumes.append((v, f"{code}/v{order + 1}", grade, order, name))
    lessons_per_volume = _spread(TARGET_LESSONS, len(volumes), rng, 24, 45)
    course_resources = 0
    lessons_total = 0
    ext = 0
    lesson_rows = []
    for (v, vol_id, grade, order, vol_name), n_lessons in zip(volumes, lessons_per_volume, strict=True):
        yield {
            "type": "node",
            "id": vol_id,
            "node_type": "volume",
            "parent_id": v["id"],
            "title": vol_name,
            "order": order,
            "stage": v["stage"],
            "subject": v["subject"],
            "grade": grade,
            "edition": v["edition"],
        }
        n_units = max(4, min(9, n_lessons // 5))
        per_unit = _spread(n_lessons, n_units, rng, 1, 12)
        topics = _TOPICS.get(v["subject"], _GENERIC_TOPICS)
        if v["subject"] in _STAGE_SLICES:
            lo, hi = _STAGE_SLICES[v["subject"]][v["stage"]]
            topics = topics[lo:hi]
        start = rng.randrange(len(topics))
        if v["subject"] == "math" and vol_name == "五年级下册":
            topics, start = _PRIMARY_MATH_G5B, -1
        for u, n_unit_lessons in enumerate(per_unit, start=1):
            topic = topics[(start + u) % len(topics)]
            unit_id = f"{vol_id}/u{u}"
            yield {
                "type": "node",
                "id": unit_id,
                "node_type": "unit",
                "parent_id": vol_id,
                "title": f"第{u}单元 {topic}",
                "order": u - 1,
                "stage": v["stage"],
                "subject": v["subject"],
                "grade": grade,
                "edition": v["edition"],
            }
            for k in range(1, n_unit_lessons + 1):
                lesson_title = _LESSON_PATTERNS[(k - 1) % len(_LESSON_PATTERNS)].format(t=topic)
                lesson_id = f"{unit_id}/l{k}"
                yield {
                    "type": "node",
                    "id": lesson_id,
                    "node_type": "lesson",
                    "parent_id": unit_id,
                    "title": f"第{k}课时 {lesson_title}",
                    "order": k - 1,
                    "stage": v["stage"],
                    "subject": v["subject"],
                    "grade": grade,
                    "edition": v["edition"],
                }
                lessons_total += 1
                lesson_rows.append((v, vol_id, vol_name, grade, unit_id, u, topic, lesson_id, k, lesson_title))
    assert lessons_total == TARGET_LESSONS
    # Every lesson: video + courseware + exercises; two in five also a study sheet.
    for v, vol_id, vol_name, grade, unit_id, u, topic, lesson_id, k, lesson_title in lesson_rows:
        kinds = ["video_lesson", "courseware", "exercise_set"] + (["document"] if rng.random() < 0.4 else [])
        prefix = f"{v['edition']} {SUBJECTS[v['subject']]} {vol_name} 第{u}单元 {topic} 第{k}课时"
        for pos, kind in enumerate(kinds):
            label, summary = _RESOURCE_TEXT[kind]
            ext += 1
            course_resources += 1
            media = {
                "url": f"https://r.smartedu.cn/{lesson_id}/{pos}",
                "mime_type": "video/mp4" if kind == "video_lesson" else "application/pdf",
                "size_bytes": rng.randint(200_000, 400_000_000),
                "duration_seconds": rng.randint(600, 2400) if kind == "video_lesson" else None,
            }
            yield _resource(
                f"demo-{ext:06d}",
                "central_agency",
                "cea-ncet",
                {
                    "kind": kind,
                    "title": f"{prefix} {lesson_title} {label}",
                    "summary": summary.format(lesson=lesson_title),
                    "section": "course_teaching",
                    "column": "synchronous_class",
                    "tags": [SUBJECTS[v["subject"]], GRADE_NAMES[grade], v["edition"]],
                    "knowledge_points": [topic] + ([lesson_title] if lesson_title != topic else []),
                    "stages": [v["stage"]],
                    "grades": [grade],
                    "subjects": [v["subject"]],
                    "license": "CC-BY-NC-ND-4.0",
                    "lesson": {
                        "textbook_version_id": v["id"],
                        "volume_id": vol_id,
                        "unit_id": unit_id,
                        "lesson_id": lesson_id,
                        "position": pos,
                    },
                    "media": [media],
                },
            )
    # E-textbooks: one per volume from its edition's publisher, the rest from the other publishers.
    publishers = _PROVIDERS["publisher"]
    for i in range(E_TEXTBOOKS):
        v, vol_id, grade, _order, vol_name = volumes[i % len(volumes)]
        pub = publishers[(i * 7) % len(publishers)]
        reprint = i // len(volumes)
        ext += 1
        yield _resource(
            f"demo-{ext:06d}",
            "publisher",
            pub,
            {
                "kind": "e_textbook",
                "title": f"义务教育教科书 {SUBJECTS[v['subject']]} {vol_name}（{v['edition']}）"
                + (f" 第{reprint + 1}版" if reprint else ""),
                "summary": f"{v['edition']}{SUBJECTS[v['subject']]}{vol_name}电子教材，与纸质教材同步。",
                "section": "textbooks",
                "column": "e_textbooks",
                "tags": ["电子教材", SUBJECTS[v["subject"]]],
                "stages": [v["stage"]],
                "grades": [grade],
                "subjects": [v["subject"]],
                "license": "publisher-copyright",
                "publisher": f"出版社{pub[-2:]}",
                "media": [
                    {
                        "url": f"https://r.smartedu.cn/etext/{i}.pdf",
                        "mime_type": "application/pdf",
                        "size_bytes": rng.randint(20_000_000, 200_000_000),
                    }
                ],
            },
        )
    # The other sections share the rest.
    other_sections = [s for s in SECTIONS if s.code not in ("course_teaching", "textbooks")]
    remaining = TARGET_RESOURCES - course_resources - E_TEXTBOOKS
    provinces = _MAINLAND
    for i in range(remaining):
        section = other_sections[i % len(other_sections)]
        stage = ("primary", "junior", "senior")[rng.randrange(3)]
        grade = rng.choice(STAGE_GRADES[stage])
        ext += 1
        if section.code == "local_channels":
            prov = provinces[rng.randrange(len(provinces))]
            column, topic = None, rng.choice(["家乡文化", "红色研学", "地方课程", "名师课堂", "非遗传承"])
            title = f"{PROVINCE_NAMES[prov.code]}地方频道 · {topic} 第{i // 11 + 1}期"
            pkind, pid, local = "province", f"prov-{prov.abbr}", prov.code
        else:
            col = section.columns[rng.randrange(len(section.columns))]
            column, topic = col.code, rng.choice(_OTHER_TOPICS[col.code])
            title = f"{section.name}·{col.name} {topic}（{GRADE_NAMES[grade]}）第{i // 11 + 1}讲"
            pkind = ("central_agency", "province", "university")[rng.randrange(3)]
            pid, local = rng.choice(_PROVIDERS[pkind]), None
        kind = ("video_lesson", "video_lesson", "document", "external_link", "live_session")[rng.randrange(5)]
        if section.code == "teacher_training":
            kind = "video_lesson"
        content: dict[str, Any] = {
            "kind": kind,
            "title": title,
            "summary": f"{topic}专题资源，适用于{GRADE_NAMES[grade]}。",
            "section": section.code,
            "column": column,
            "local_channel": local,
            "tags": [topic, section.name],
            "knowledge_points": [topic],
            "stages": [stage],
            "grades": [grade],
            "subjects": [],
            "license": "CC-BY-NC-ND-4.0",
        }
        if kind in ("video_lesson", "document"):
            content["media"] = [
                {
                    "url": f"https://r.smartedu.cn/o/{i}",
                    "size_bytes": rng.randint(1_000_000, 9**9),
                    "duration_seconds": rng.randint(300, 3600) if kind == "video_lesson" else None,
                }
            ]
        elif kind == "external_link":
            content["external_url"] = rng.choice(
                [
                    "https://www.e-dunhuang.com/",
                    "https://www.dpm.org.cn/",
                    "https://www.cdstm.cn/",
                    "https://www.chnmuseum.cn/",
                ]
            )
        else:
            content["external_url"] = f"https://live.smartedu.cn/{i}"
            content["starts_at"] = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T19:00:00+08:00"
        if section.code == "teacher_training":
            content["credit_hours"] = rng.choice([0.5, 1.0, 1.5, 2.0, 3.0])
        yield _resource(f"demo-{ext:06d}", pkind, pid, content)
    assert ext == TARGET_RESOURCES


def _resource(external_id: str, provider_kind: str, provider_id: str, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "resource",
        "external_id": external_id,
        "provider_kind": provider_kind,
        "provider_id": provider_id,
        "content": {k: v for k, v in content.items() if v is not None},
    }


def write_jsonl(out: Any, seed: int = 2024) -> int:
    n = 0
    for row in generate(seed):
        out.write(orjson.dumps(row) + b"\n")
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/local/demo_catalog.py")
    parser.add_argument("--out", default="-")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    if args.out == "-":
        write_jsonl(sys.stdout.buffer, args.seed)
    else:
        with open(args.out, "wb") as f:
            n = write_jsonl(f, args.seed)
        print(f"wrote {n} lines to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
