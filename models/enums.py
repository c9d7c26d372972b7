"""Enumerations of the domain, with the Chinese label each one shows in the UI."""

from __future__ import annotations

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A string enum whose members carry a Chinese label: ``Role.OFFICE.label``."""

    label: str

    def __new__(cls, value: str, label: str = "") -> LabelledEnum:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value
        return member

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]


class Role(LabelledEnum):
    PHYSICIAN = "physician", "医师个人用户"
    INSTITUTION = "institution", "执业机构"
    ASSESSOR = "assessor", "考核机构"
    COMMISSION = "commission", "地、州、市卫生健康委"
    OFFICE = "office", "自治区医师定期考核办公室"


class OrgKind(LabelledEnum):
    INSTITUTION = "institution", "执业机构"
    ASSESSOR = "assessor", "考核机构"
    COMMISSION = "commission", "地、州、市卫生健康委"
    OFFICE = "office", "自治区医师定期考核办公室"


class OrgStatus(LabelledEnum):
    ACTIVE = "active", "正常"
    PENDING_ADD = "pending_add", "新增待备案"
    PENDING_DELETE = "pending_delete", "删除待备案"
    DELETED = "deleted", "已删除"


class PrefectureKind(LabelledEnum):
    CITY = "city", "地级市"
    AUTONOMOUS_PREFECTURE = "autonomous_prefecture", "自治州"
    PREFECTURE = "prefecture", "地区"


class Sex(LabelledEnum):
    MALE = "male", "男"
    FEMALE = "female", "女"


class RegistrationStatus(LabelledEnum):
    DRAFT = "draft", "未提交"
    PENDING = "pending", "待执业机构审核"
    APPROVED = "approved", "审核通过"
    REJECTED = "rejected", "审核未通过"


class StagingReason(LabelledEnum):
    """Why a physician is in the staging area (暂存区); a physician there has no institution."""

    REJECTED = "rejected", "注册审核未通过"
    DEATH = "death", "死亡"
    RETIRED = "retired", "退休（不再执业）"
    LEFT = "left", "离职（不再执业）"


class Phase(LabelledEnum):
    REGISTRATION = "registration", "注册报名"
    SIMPLIFIED_REVIEW = "simplified_review", "简易程序审核"
    TRAINING = "training", "培训及考前练习"
    TEST = "test", "业务水平测评"
    EVALUATION = "evaluation", "工作成绩和职业道德评定"
    RESULTS = "results", "结果公布"


class Procedure(LabelledEnum):
    GENERAL = "general", "一般程序"
    SIMPLIFIED = "simplified", "简易程序"


class EnrollmentStatus(LabelledEnum):
    SUBMITTED = "submitted", "已报名"
    INSTITUTION_APPROVED = "institution_approved", "执业机构审核通过"
    INSTITUTION_REJECTED = "institution_rejected", "执业机构审核未通过"
    ASSESSOR_APPROVED = "assessor_approved", "考核机构复核通过"
    ASSESSOR_REJECTED = "assessor_rejected", "考核机构复核未通过"


class ReviewStatus(LabelledEnum):
    PENDING = "pending", "待审核"
    APPROVED = "approved", "已通过"
    REJECTED = "rejected", "未通过"


class FilingKind(LabelledEnum):
    INSTITUTION_ADD = "institution_add", "添加执业机构"
    INSTITUTION_DELETE = "institution_delete", "删除执业机构"
    STAGING_IN = "staging_in", "调入暂存区"
    STAGING_OUT = "staging_out", "调出暂存区"


class Rating(LabelledEnum):
    PASS = "pass", "合格"
    FAIL = "fail", "不合格"


class EvaluationStatus(LabelledEnum):
    DRAFT = "draft", "未评定"
    INSTITUTION_RATED = "institution_rated", "执业机构已评定"
    ASSESSOR_CONFIRMED = "assessor_confirmed", "考核机构已复核"


class Outcome(LabelledEnum):
    QUALIFIED = "qualified", "合格"
    UNQUALIFIED = "unqualified", "不合格"


class CourseCategory(LabelledEnum):
    PROFESSIONAL_REQUIRED = "professional_required", "专业必修课"
    PUBLIC_REQUIRED = "public_required", "公共必修课"
    PUBLIC_ELECTIVE = "public_elective", "公共选修课"


class QuestionType(LabelledEnum):
    SINGLE = "single", "单选题"
    MULTIPLE = "multiple", "多选题"
    JUDGE = "judge", "判断题"


class QuestionCategory(LabelledEnum):
    LAW = "law", "法律法规"
    ETHICS = "ethics", "医学伦理与职业道德"
    HUMANITIES = "humanities", "医学人文"
    PROFESSIONAL = "professional", "专业知识"


class QuestionStatus(LabelledEnum):
    ACTIVE = "active", "在用"
    RETIRED = "retired", "已停用"


class AttemptStatus(LabelledEnum):
    WAITING = "waiting", "候考中"
    IN_PROGRESS = "in_progress", "答题中"
    SUBMITTED = "submitted", "已交卷"
    ENDED = "ended", "已终止"
    VOIDED = "voided", "已作废"


class FaceStage(LabelledEnum):
    REGISTRATION = "registration", "注册照片"
    START = "start", "开考验证"
    RANDOM = "random", "随机验证"
    SUBMIT = "submit", "交卷验证"


class FaceReason(LabelledEnum):
    """Why a face check or a photo passed or not (the face workers answer these codes)."""

    OK = "ok", "验证通过"
    NO_FACE = "no_face", "无法识别人脸"
    MULTIPLE_FACES = "multiple_faces", "检测到多张人脸"
    MISMATCH = "mismatch", "与注册照片不是同一人"
    UNREADABLE = "unreadable", "图片无法读取"
    NO_REFERENCE = "no_reference", "没有注册照片"
    TOO_LARGE = "too_large", "图片过大"
    TOO_MANY_PIXELS = "too_many_pixels", "图片尺寸过大"
    NO_ACTION = "no_action", "未完成指定动作"
    REPLAY = "replay", "检测到翻拍照片或重复画面"
    FACE_CHANGED = "face_changed", "动作过程中人脸发生变化"
    FACE_TOO_SMALL = "face_too_small", "人脸过小"
    NOT_FRONTAL = "not_frontal", "人脸未正对镜头"
    EYES_CLOSED = "eyes_closed", "眼睛未睁开"


class FaceAction(LabelledEnum):
    """What a live face check asks the physician to do (face/challenge.py says why these)."""

    TURN_LEFT = "turn_left", "向左转头"
    TURN_RIGHT = "turn_right", "向右转头"
    OPEN_MOUTH = "open_mouth", "张嘴"


class MailStatus(LabelledEnum):
    PENDING = "pending", "待发送"
    SENT = "sent", "已发送"
    FAILED = "failed", "发送失败"
