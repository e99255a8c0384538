"""Event times, window by window: who sends a request when (numpy, no per-event loops).

Each window draws Poisson counts per subject from its daily volume, its rhythm in
its own time zone and its active interval. Chat subjects send real multi-turn
conversations as sessions; load-balanced campaigns spread one campaign-level
stream round-robin over their live accounts (coordinated timing). Events that
spill past a window's end are carried into the next, so output stays sorted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from distillguard.bench.simulate.subjects import (
    K_CHAT,
    R_BLOCK,
    R_DIURNAL,
    R_FLAT,
    R_WORKDAY,
    Subjects,
)

__all__ = ["EventBlock", "TimelineEngine"]

_H_MS = 3_600_000
# Relative request rate by local hour. Diurnal: evenings peak for consumers;
# workday: office hours. Both have mean 1 over the day.
_DIURNAL = np.array([0.35, 0.2, 0.12, 0.1, 0.1, 0.15, 0.3, 0.55, 0.8, 1.0, 1.1, 1.2, 1.25, 1.25,
                     1.3, 1.35, 1.35, 1.4, 1.45, 1.55, 1.65, 1.55, 1.2, 0.75])  # fmt: skip
_WORKDAY = np.array([0.1, 0.08, 0.06, 0.06, 0.06, 0.1, 0.25, 0.7, 1.6, 2.2, 2.4, 2.3, 1.9, 2.2,
                     2.4, 2.3, 2.1, 1.6, 0.9, 0.55, 0.4, 0.3, 0.2, 0.15])  # fmt: skip
_DIURNAL /= _DIURNAL.mean()
_WORKDAY /= _WORKDAY.mean()
# weekend multipliers (Saturday, Sunday) per rhythm
_WEEKEND = {R_DIURNAL: 1.1, R_WORKDAY: 0.25, R_FLAT: 1.0, R_BLOCK: 1.0}


@dataclass
class EventBlock:
    """Events of one window, sorted by time. ``conv`` is -1 outside chat sessions."""

    ts_ms: np.ndarray  # int64 epoch ms
    subject: np.ndarray  # int64
    conv: np.ndarray  # int64 library conversation index, -1 none
    turn: np.ndarray  # int64 user-turn index within the conversation
    session: np.ndarray  # int64 global session serial, -1 none

    def __len__(self) -> int:
        return len(self.ts_ms)

    @staticmethod
    def concat(blocks: list[EventBlock]) -> EventBlock:
        return EventBlock(*(np.concatenate([getattr(b, f) for b in blocks]) for f in _FIELDS))

    def take(self, idx: np.ndarray) -> EventBlock:
        return EventBlock(*(getattr(self, f)[idx] for f in _FIELDS))


_FIELDS = ("ts_ms", "subject", "conv", "turn", "session")


def _empty() -> EventBlock:
    z = np.zeros(0, dtype=np.int64)
    return EventBlock(z, z, z, z, z)


@dataclass
class TimelineEngine:
    """Yields one sorted EventBlock per window; keeps round-robin and session counters."""

    subjects: Subjects
    start_ms: int
    hours: float
    window_minutes: float
    conv_turns: np.ndarray  # user turns of each library conversation
    seed: int
    _carry: EventBlock = field(default_factory=_empty)
    _rr: dict[int, int] = field(default_factory=dict)
    _sessions: int = 0

    def windows(self) -> int:
        return int(np.ceil(self.hours * 60.0 / self.window_minutes))

    def block(self, w: int) -> EventBlock:
        """Events with timestamps in window ``w`` (the last window also flushes spill-over)."""
        rng = np.random.default_rng([self.seed, 2, w])
        h0 = w * self.window_minutes / 60.0
        h1 = min((w + 1) * self.window_minutes / 60.0, self.hours)
        s = self.subjects
        lo = np.maximum(s.active_from, h0)
        hi = np.minimum(s.active_to, h1)
        overlap = np.maximum(hi - lo, 0.0)
        lam = s.volume / 24.0 * self._rhythm((h0 + h1) / 2.0) * overlap
        parts = [self._carry]
        chat = (s.kind == K_CHAT) & ~s.balanced
        parts.append(self._chat(rng, np.flatnonzero(chat & (lam > 0)), lam, lo, hi))
        plain = ~chat & ~s.balanced & (lam > 0)
        parts.append(self._plain(rng, np.flatnonzero(plain), lam, lo, hi))
        parts.append(self._balanced(rng, lam, lo, hi, h0, h1))
        events = EventBlock.concat(parts)
        order = np.lexsort((events.turn, events.subject, events.ts_ms))
        events = events.take(order)
        if w == self.windows() - 1:
            self._carry = _empty()
            return events
        cut = int(np.searchsorted(events.ts_ms, self.start_ms + round(h1 * _H_MS)))
        self._carry = events.take(np.arange(cut, len(events)))
        return events.take(np.arange(cut))

    def _rhythm(self, hour: float) -> np.ndarray:
        s = self.subjects
        local = (self.start_ms / _H_MS + hour + s.tz) % 24.0
        day = np.floor((self.start_ms / _H_MS + hour + s.tz) / 24.0).astype(np.int64)
        weekend = ((day + 3) % 7) >= 5  # 1970-01-01 was a Thursday
        hour_i = local.astype(np.int64) % 24
        rate = np.ones(len(s))
        rate = np.where(s.rhythm == R_DIURNAL, _DIURNAL[hour_i], rate)
        rate = np.where(s.rhythm == R_WORKDAY, _WORKDAY[hour_i], rate)
        wk = np.select(
            [s.rhythm == R_DIURNAL, s.rhythm == R_WORKDAY], [_WEEKEND[R_DIURNAL],
             _WEEKEND[R_WORKDAY]], 1.0,
        )  # fmt: skip
        return np.asarray(np.where(weekend, rate * wk, rate))

    def _times(self, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        hours = lo + rng.random(len(lo)) * (hi - lo)
        return self.start_ms + np.round(hours * _H_MS).astype(np.int64)

    def _plain(
        self, rng: np.random.Generator, idx: np.ndarray, lam: np.ndarray, lo: np.ndarray,
        hi: np.ndarray,
    ) -> EventBlock:  # fmt: skip
        counts = rng.poisson(lam[idx])
        subj = np.repeat(idx, counts)
        ts = self._times(rng, lo[subj], hi[subj])
        neg = np.full(len(subj), -1, dtype=np.int64)
        return EventBlock(ts, subj.astype(np.int64), neg, np.zeros(len(subj), np.int64), neg)

    def _chat(
        self, rng: np.random.Generator, idx: np.ndarray, lam: np.ndarray, lo: np.ndarray,
        hi: np.ndarray,
    ) -> EventBlock:  # fmt: skip
        mean_turns = float(self.conv_turns.mean())
        counts = rng.poisson(lam[idx] / mean_turns)
        subj = np.repeat(idx, counts)
        n_sess = len(subj)
        conv = rng.integers(0, len(self.conv_turns), n_sess)
        turns = self.conv_turns[conv]
        start = self._times(rng, lo[subj], hi[subj])
        serial = self._sessions + np.arange(n_sess, dtype=np.int64)
        self._sessions += n_sess
        total = int(turns.sum())
        first = np.concatenate([[0], np.cumsum(turns)[:-1]]).astype(np.int64)
        sess_of = np.repeat(np.arange(n_sess), turns)
        turn = np.arange(total) - first[sess_of]
        # Reading and typing time between turns: lognormal, median ~75 s.
        gaps = np.where(turn == 0, 0, rng.lognormal(np.log(75_000), 0.9, total)).astype(np.int64)
        cum = np.cumsum(gaps)
        cum -= np.repeat(cum[first] - gaps[first] if n_sess else cum[:0], turns)
        ts = start[sess_of] + cum
        return EventBlock(
            ts, subj[sess_of].astype(np.int64), conv[sess_of].astype(np.int64),
            turn.astype(np.int64), serial[sess_of],
        )  # fmt: skip

    def _balanced(
        self, rng: np.random.Generator, lam: np.ndarray, lo: np.ndarray, hi: np.ndarray,
        h0: float, h1: float,
    ) -> EventBlock:  # fmt: skip
        s = self.subjects
        blocks = []
        for camp in np.unique(s.campaign[s.balanced]):
            members = np.flatnonzero(s.balanced & (s.campaign == camp) & (lam > 0))
            if not len(members):
                continue
            n = int(rng.poisson(lam[members].sum()))
            if n == 0:
                continue
            start, end = float(lo[members].min()), float(hi[members].max())
            # A scheduler spreads requests evenly (jittered) and rotates accounts.
            grid = start + (np.arange(n) + rng.random(n) * 0.6) * (end - start) / n
            ts = self.start_ms + np.round(grid * _H_MS).astype(np.int64)
            pick = np.empty(n, dtype=np.int64)
            rr = self._rr.get(int(camp), 0)
            # The live set only changes at hydra replacements: constant between cuts.
            m_lo, m_hi = lo[members], hi[members]
            cuts = np.unique(np.concatenate([[start, end], m_lo, m_hi]))
            seg = np.clip(np.searchsorted(cuts, grid, side="right") - 1, 0, len(cuts) - 1)
            done = 0
            for k in np.unique(seg):
                at = np.flatnonzero(seg == k)
                t = cuts[k]
                alive = members[(m_lo <= t) & (t < m_hi)]
                if not len(alive):
                    alive = members
                pick[at] = alive[(rr + done + np.arange(len(at))) % len(alive)]
                done += len(at)
            self._rr[int(camp)] = rr + n
            neg = np.full(n, -1, dtype=np.int64)
            blocks.append(EventBlock(ts, pick, neg, np.zeros(n, np.int64), neg))
        return EventBlock.concat(blocks) if blocks else _empty()
