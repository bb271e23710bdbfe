"""Human views for the CLI: a local type as indented text, a role's state machine as
Graphviz DOT, and the global protocol as a Mermaid sequence diagram. All deterministic."""

from __future__ import annotations

from dataclasses import dataclass, field

from codegen.ast import (
    Annotations,
    Broadcast,
    Call,
    Choice,
    Continue,
    Interaction,
    LocalStep,
    Loop,
    Parallel,
    Protocol,
    Rec,
    Stmt,
)
from codegen.local import (
    LContinue,
    LDecideLoop,
    LLocal,
    LLoop,
    LocalType,
    LOffer,
    LParallel,
    LRec,
    LRecv,
    LSelect,
    LSend,
    LStmt,
    MemberSel,
    OnlyIndex,
    OnlyRange,
)
from codegen.merge import peer_text
from codegen.project import ref_text

__all__ = ["dot", "mermaid", "peer_text", "render_local"]

_IND = "  "


# ---------------------------------------------------------------- local type as text


def _only(o: MemberSel | None) -> str:
    match o:
        case OnlyIndex(index=i, exclude=True):
            return f" (members but {i})"
        case OnlyIndex(index=i):
            return f" (member {i} only)"
        case OnlyRange(lo=lo, hi=hi):
            return f" (members {lo}..{hi})"
    return ""


def _notes(a: Annotations) -> str:
    parts: list[str] = []
    if a.guard_capability:
        parts.append(f"capability {a.guard_capability}")
    if a.flow_cost is not None:
        parts.append(f"cost {a.flow_cost}")
    if a.journal_facts:
        parts.append("facts " + ", ".join(a.journal_facts))
    if a.journal_merge:
        parts.append(f"merge {a.journal_merge}")
    if a.timeout is not None:
        parts.append(f"timeout {a.timeout:g}s")
    return f"  # {'; '.join(parts)}" if parts else ""


def render_local(lt: LocalType) -> str:
    """``role Buyer1 of TwoBuyer:`` then one statement a line, blocks indented, then ``end``."""
    who = f"family {lt.role} (each member)" if lt.family else f"role {lt.role}"
    lines = [f"{who} of {lt.protocol}:"]
    _lines(lt.body, 1, lines)
    lines.append(_IND + "end")
    return "\n".join(lines)


def _lines(body: tuple[LStmt, ...], depth: int, out: list[str]) -> None:
    pad = _IND * depth
    for s in body:
        match s:
            case LSend():
                out.append(f"{pad}send {s.message} to {peer_text(s.to)}{_only(s.only)}{_notes(s.annotations)}")
            case LRecv():
                out.append(f"{pad}receive {s.message} from {peer_text(s.frm)}{_only(s.only)}{_notes(s.annotations)}")
            case LLocal():
                out.append(f"{pad}run local step {s.step}{_only(s.only)}")
            case LSelect():
                out.append(f"{pad}select{_only(s.only)} {{")
                for b in s.branches:
                    guard = f" when {b.guard.source}" if b.guard else ""
                    out.append(f"{pad}{_IND}{b.label}{guard}:")
                    _lines(b.body, depth + 2, out)
                if s.only is not None:
                    out.append(f"{pad}{_IND}(other members):")
                    _lines(s.others, depth + 2, out) if s.others else out.append(f"{pad}{_IND * 2}nothing")
                out.append(f"{pad}}}")
            case LOffer():
                out.append(f"{pad}offer from {peer_text(s.frm)}{_only(s.only)} {{")
                for ob in s.branches:
                    out.append(f"{pad}{_IND}{ob.message} [{', '.join(ob.labels)}]:")
                    _lines(ob.body, depth + 2, out)
                out.append(f"{pad}}}")
            case LRec():
                out.append(f"{pad}rec {s.name} {{")
                _lines(s.body, depth + 1, out)
                out.append(f"{pad}}}")
            case LContinue():
                out.append(f"{pad}continue {s.name}")
            case LLoop():
                out.append(f"{pad}loop {s.count} times {{")
                _lines(s.body, depth + 1, out)
                out.append(f"{pad}}}")
            case LDecideLoop():
                if s.decider is None:
                    told = ", ".join(peer_text(p) for p in s.inform) or "nobody"
                    head = f"loop decided here, telling {told}"
                else:
                    head = f"loop decided by {peer_text(s.decider)}"
                out.append(f"{pad}{head}{_only(s.only)} {{")
                _lines(s.body, depth + 1, out)
                out.append(f"{pad}}}")
            case LParallel():
                out.append(f"{pad}parallel {{")
                for i, br in enumerate(s.branches):
                    out.append(f"{pad}{_IND}branch {i + 1}:")
                    _lines(br, depth + 2, out)
                out.append(f"{pad}}}")


# ---------------------------------------------------------------- state machine as DOT


@dataclass
class _Graph:
    """States and labelled edges, built backwards (each statement knows its successor)."""

    count: int = 0
    edges: list[tuple[int, int, str, bool]] = field(default_factory=list)  # src, dst, label, control
    alias: dict[int, int] = field(default_factory=dict)  # rec placeholder -> its body's start

    def new(self) -> int:
        self.count += 1
        return self.count - 1

    def edge(self, src: int, dst: int, label: str, control: bool = False) -> None:
        self.edges.append((src, dst, label, control))

    def seq(self, body: tuple[LStmt, ...], k: int, env: dict[str, int]) -> int:
        state = k
        for s in reversed(body):
            state = self.stmt(s, state, env)
        return state

    def stmt(self, s: LStmt, k: int, env: dict[str, int]) -> int:
        match s:
            case LSend():
                n = self.new()
                self.edge(n, k, f"!{peer_text(s.to)}:{s.message}{_only(s.only)}")
                return n
            case LRecv():
                n = self.new()
                self.edge(n, k, f"?{peer_text(s.frm)}:{s.message}{_only(s.only)}")
                return n
            case LLocal():
                n = self.new()
                self.edge(n, k, f"local {s.step}{_only(s.only)}")
                return n
            case LSelect():
                n = self.new()
                for b in s.branches:
                    self.edge(n, self.seq(b.body, k, env), b.label, True)
                if s.only is not None:
                    self.edge(n, self.seq(s.others, k, env), "other members", True)
                return n
            case LOffer():
                n = self.new()
                for ob in s.branches:
                    self.edge(n, self.seq(ob.body[1:], k, env), f"?{peer_text(s.frm)}:{ob.message}")
                return n
            case LRec():
                p = self.new()
                self.alias[p] = self.seq(s.body, k, {**env, s.name: p})
                return p
            case LContinue():
                return env.get(s.name, k)
            case LLoop():
                head = self.new()
                self.edge(head, self.seq(s.body, head, {}), f"loop x{s.count}", True)
                self.edge(head, k, "done", True)
                return head
            case LDecideLoop():
                head = self.new()
                start = self.seq(s.body, head, {})
                if s.decider is None:
                    self.edge(head, start, "!continue", True)
                    self.edge(head, k, "!exit", True)
                else:
                    who = peer_text(s.decider)
                    self.edge(head, start, f"?{who}:continue", True)
                    self.edge(head, k, f"?{who}:exit", True)
                return head
            case _:
                fork = self.new()
                for i, br in enumerate(s.branches):
                    self.edge(fork, self.seq(br, k, {}), f"fork {i + 1}", True)
                return fork

    def resolve(self, n: int) -> int:
        seen: set[int] = set()
        while n in self.alias and n not in seen:
            seen.add(n)
            n = self.alias[n]
        return n


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(lt: LocalType) -> str:
    """The role's state machine: states numbered in visiting order from S0, ``!Peer:Msg`` /
    ``?Peer:Msg`` edges, dashed edges for choices and loop control, a double circle at End."""
    g = _Graph()
    end = g.new()
    start = g.resolve(g.seq(lt.body, end, {}))
    out_edges: dict[int, list[tuple[int, str, bool]]] = {}
    for src, dst, label, control in g.edges:
        out_edges.setdefault(src, []).append((g.resolve(dst), label, control))
    number: dict[int, int] = {}
    stack = [start]
    while stack:  # depth-first numbering, iterative: long local types must not recurse
        n = stack.pop()
        if n in number:
            continue
        number[n] = len(number)
        stack.extend(dst for dst, _, _ in reversed(out_edges.get(n, [])))
    name = f"{lt.protocol}_{lt.role}"
    lines = [f"digraph {_dot_id(name)} {{", "  rankdir=LR;", '  node [shape=circle, fontname="Helvetica"];']
    lines.append('  start [shape=point, label=""];')
    for n, i in sorted(number.items(), key=lambda item: item[1]):
        shape = ", shape=doublecircle" if n == end else ""
        lines.append(f'  S{i} [label="S{i}"{shape}];')
    lines.append(f"  start -> S{number[start]};")
    for n, i in sorted(number.items(), key=lambda item: item[1]):
        for dst, label, control in out_edges.get(n, []):
            style = ", style=dashed" if control else ""
            lines.append(f"  S{i} -> S{number[dst]} [label={_dot_id(label)}{style}];")
    lines.append("}")
    return "\n".join(lines)


# ---------------------------------------------------------------- global protocol as Mermaid


def _mm(text: str) -> str:
    """Mermaid treats ``;`` and ``#`` specially in messages."""
    return text.replace(";", ",").replace("#", "")


def mermaid(protocol: Protocol) -> str:
    """The global protocol as a Mermaid ``sequenceDiagram`` (alt/loop/par blocks, notes)."""
    lines = ["sequenceDiagram"]
    for r in protocol.roles:
        if r.kind == "single":
            lines.append(f"    participant {r.name}")
        else:
            size = "*" if r.size is None else str(r.size)
            lines.append(f"    participant {r.name} as {r.name}[{size}]")
    everyone = f"{protocol.roles[0].name},{protocol.roles[-1].name}" if protocol.roles else ""
    _mm_seq(protocol.body, protocol, everyone, 1, lines)
    return "\n".join(lines)


def _mm_seq(body: tuple[Stmt, ...], p: Protocol, everyone: str, depth: int, out: list[str]) -> None:
    pad = "    " * depth
    for s in body:
        match s:
            case Interaction():
                snd, rcv = s.sender, s.receiver
                indexed = snd.index is not None or rcv.index is not None
                where = f" ({ref_text(snd)} -> {ref_text(rcv)})" if indexed else ""
                out.append(f"{pad}{snd.name}->>{rcv.name}: {_mm(s.message)}{where}")
            case Broadcast():
                for r in p.roles:
                    if r.name != s.sender.name or s.sender.index is not None:
                        out.append(f"{pad}{s.sender.name}-)" + f"{r.name}: {_mm(s.message)} (broadcast)")
            case Choice():
                for i, b in enumerate(s.branches):
                    guard = f" when {b.guard.source}" if b.guard else ""
                    head = f"alt {b.label} at {ref_text(s.at)}" if i == 0 else f"else {b.label}"
                    out.append(f"{pad}{_mm(head + guard)}")
                    _mm_seq(b.body, p, everyone, depth + 1, out)
                out.append(f"{pad}end")
            case Rec():
                out.append(f"{pad}loop rec {s.name}")
                _mm_seq(s.body, p, everyone, depth + 1, out)
                out.append(f"{pad}end")
            case Continue():
                if everyone:
                    out.append(f"{pad}Note over {everyone}: continue {s.name}")
            case Loop():
                head = f"{s.count} times" if s.decides is None else f"decided by {ref_text(s.decides)}"
                out.append(f"{pad}loop {head}")
                _mm_seq(s.body, p, everyone, depth + 1, out)
                out.append(f"{pad}end")
            case Parallel():
                for i, br in enumerate(s.branches):
                    out.append(f"{pad}{'par' if i == 0 else 'and'}")
                    _mm_seq(br, p, everyone, depth + 1, out)
                out.append(f"{pad}end")
            case LocalStep():
                out.append(f"{pad}Note over {s.role.name}: {_mm(ref_text(s.role) + ' runs ' + s.step)}")
            case Call():
                names = list(dict.fromkeys(a.name for a in s.args))
                over = ",".join(names[:1] + names[-1:]) if len(names) > 1 else (names[0] if names else everyone)
                if over:
                    args = ", ".join(ref_text(a) for a in s.args)
                    out.append(f"{pad}Note over {over}: call {s.target}({args})")
