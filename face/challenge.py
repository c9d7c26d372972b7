"""The live challenge of a face check: what the physician is asked to do, chosen by the
server at random for every try.

Why these actions (measured on the frames of ``../shared/faces/``; README 人脸识别):
- 张嘴 (open the mouth) is the one no flat picture can perform: the gap between the inner
  lips of a closed mouth is zero, and a picture moved, tilted or bent keeps it at zero (the
  measure is a ratio of two nearly parallel segments). It is in every challenge.
- 向左转头 / 向右转头 (turn the head), one of the two at random, makes a recorded video hard
  to use: it must show the right direction at the right moment. A turn alone does not prove
  a living person: a photo held very close to the camera and tilted by 40–60° moves the
  landmarks as far as a real turn does, so a turn is never the only action.
- 眨眼 (blink) is left out: a blink lasts 100–300 ms and a burst of a few frames a second
  catches it in one frame or none, so honest physicians would fail.
The order of the actions is random too.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import TypedDict

from models.enums import FaceAction

TURNS = (FaceAction.TURN_LEFT, FaceAction.TURN_RIGHT)

# What the page shows for each action: the instruction, large and plain.
HINTS = {
    FaceAction.TURN_LEFT: "请慢慢向左转头（转向您的左肩），再转回正面",
    FaceAction.TURN_RIGHT: "请慢慢向右转头（转向您的右肩），再转回正面",
    FaceAction.OPEN_MOUTH: "请正对屏幕张大嘴巴（像检查喉咙时说“啊”），保持 1 秒后闭上",
}


class PageAction(TypedDict):
    code: str  # a FaceAction value
    label: str
    hint: str


class PageChallenge(TypedDict):
    """A challenge as the exam hall's protocol sends it (examhall/protocol.py)."""

    id: str
    actions: list[PageAction]
    frames: int
    seconds: float


@dataclass(frozen=True)
class Challenge:
    id: str
    actions: tuple[FaceAction, ...]
    frames: int  # frames the page captures
    seconds: float  # over this many seconds
    issued: float = field(default_factory=time.monotonic)

    @property
    def codes(self) -> list[str]:
        return [a.value for a in self.actions]

    def for_page(self) -> PageChallenge:
        return {
            "id": self.id,
            "actions": [
                {"code": a.value, "label": a.label, "hint": HINTS[a]} for a in self.actions
            ],
            "frames": self.frames,
            "seconds": self.seconds,
        }

    def too_early(self, now: float | None = None) -> bool:
        """A burst cannot arrive before it could have been filmed: the page films for
        ``seconds`` after it received the challenge. One that does was made beforehand."""
        return ((now or time.monotonic()) - self.issued) < self.seconds * 0.8


def new_challenge(
    pool: tuple[FaceAction, ...],
    frames: int,
    seconds: float,
    rng: random.Random | None = None,
) -> Challenge:
    """One turn of the pool at random, and 张嘴 when the pool has it, in random order."""
    pick = rng or random.SystemRandom()
    actions: list[FaceAction] = []
    turns = [a for a in pool if a in TURNS]
    if turns:
        actions.append(pick.choice(turns))
    if FaceAction.OPEN_MOUTH in pool:
        actions.append(FaceAction.OPEN_MOUTH)
    pick.shuffle(actions)
    return Challenge(uuid.uuid4().hex[:12], tuple(actions), frames, seconds)


def missing_message(missing: list[str]) -> str:
    """未完成指定动作（请向左转头、张嘴）"""
    labels = "、".join(FaceAction(code).label for code in missing)
    return f"未完成指定动作（请{labels}）"
