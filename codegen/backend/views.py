"""Human views for the CLI: a local type as indented text, a role's state machine as
Graphviz DOT, and the global protocol as a Mermaid sequence diagram. All deterministic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from codegen.core.ast import (
    EPOCH_STEP,
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
from codegen.core.local import (
    LChoose,
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
)
from codegen.core.text import head_text, only_text, peer_text, ref_text
from codegen.projection import fsm

__all__ = ["dot", "mermaid", "mermaid_states", "peer_text", "render_local"]

_IND = "  "


# ---------------------------------------------------------------- local type as text


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
            case LSend() | LRecv():
                out.append(f"{pad}{head_text(s)}{_notes(s.annotations)}")
            case LLocal() | LContinue():
                out.append(f"{pad}{head_text(s)}")
            case LSelect():
                out.append(f"{pad}{head_text(s)} {{")
                for b in s.branches:
                    guard = f" when {b.guard.source}" if b.guard else ""
                    out.append(f"{pad}{_IND}{b.label}{guard}:")
                    _lines(b.body, depth + 2, out)
                if s.only is not None:
                    out.append(f"{pad}{_IND}(other members):")
                    _lines(s.others, depth + 2, out) if s.others else out.append(f"{pad}{_IND * 2}nothing")
                out.append(f"{pad}}}")
            case LOffer():
                out.append(f"{pad}{head_text(s)} {{")
                for ob in s.branches:
                    out.append(f"{pad}{_IND}{ob.message} [{', '.join(ob.labels)}]:")
                    _lines(ob.body, depth + 2, out)
                if s.others:
                    out.append(f"{pad}{_IND}(other members):")
                    _lines(s.others, depth + 2, out)
                out.append(f"{pad}}}")
            case LRec() | LLoop() | LDecideLoop():
                out.append(f"{pad}{head_text(s)} {{")
                _lines(s.body, depth + 1, out)
                out.append(f"{pad}}}")
            case LParallel():
                out.append(f"{pad}{head_text(s)} {{")
                for i, br in enumerate(s.branches):
                    out.append(f"{pad}{_IND}branch {i + 1}:")
                    _lines(br, depth + 2, out)
                out.append(f"{pad}}}")
            case LChoose():
                out.append(f"{pad}{head_text(s)} {{")
                inn = "in " if s.size is not None else ""
                for label, body in ((f"I am {inn}{s.role}", s.it), (f"I am not {inn}{s.role}", s.other)):
                    out.append(f"{pad}{_IND}{label}:")
                    _lines(body, depth + 2, out) if body else out.append(f"{pad}{_IND * 2}nothing")
                out.append(f"{pad}}}")


# ---------------------------------------------------------------- state machines as DOT / Mermaid
#
# Drawn from the same state machines the generator turns into classes (``codegen.projection.fsm``), so
# every node carries the name of its generated class: the picture's ``Seller_S3`` is the
# code's ``Seller_S3``.


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class _Edge:
    src: str
    dst: str
    label: str
    control: bool  # a choice, loop control, fork/join or skip rather than a message


def _machine(lt: LocalType) -> tuple[fsm.StateMachine, list[_Edge]]:
    sm = fsm.build(lt)
    name = partial(fsm.class_name, sm.role)
    edges: list[_Edge] = []
    for n in sm.states:
        here = name(n)

        def add(t: fsm.Target | None, label: str, control: bool = False, here: str = here) -> None:
            if t is not None:
                edges.append(_Edge(here, name(t.node), label, control))

        match n:
            case fsm.SendNode():
                add(n.next, f"!{peer_text(n.to)}:{n.message}{only_text(n.only)}")
            case fsm.RecvNode():
                add(n.next, f"?{peer_text(n.frm)}:{n.message}{only_text(n.only)}")
            case fsm.LocalNode():
                add(n.next, f"local {n.step}{only_text(n.only)}")
            case fsm.SelectNode():
                for b in n.branches:
                    add(b.next, f"select {b.label}", True)
            case fsm.OfferNode():
                for ob in n.branches:
                    add(ob.next, f"?{peer_text(n.frm)}:{ob.message}")
            case fsm.LoopNode():
                add(n.body, f"loop x{n.count}", True)
                add(n.exit, "done", True)
            case fsm.DecideNode():
                add(n.body, "!continue", True)
                add(n.exit, "!exit", True)
            case fsm.DecidedNode():
                add(n.body, f"?{peer_text(n.frm)}:continue", True)
                add(n.exit, f"?{peer_text(n.frm)}:exit", True)
            case fsm.ChooseNode():
                inn = "in " if n.size is not None else ""
                add(n.it, f"local {n.step}: I am {inn}{n.role}", True)
                add(n.other, f"local {n.step}: I am not {inn}{n.role}", True)
            case fsm.ForkNode():
                for i, t in enumerate(n.branches):
                    add(t, f"fork {i + 1}", True)
                add(n.join, "join", True)
            case _:
                pass
        add(n.skip, "skip (other members)", True)
    return sm, edges


def dot(locals_: Sequence[LocalType]) -> str:
    """One DOT document: a cluster per role, nodes named as the generated state classes,
    ``!Peer:Msg`` / ``?Peer:Msg`` edges, dashed control edges, a double circle at End."""
    title = locals_[0].protocol if locals_ else "protocol"
    lines = [f"digraph {_dot_id(title)} {{", "  rankdir=LR;", '  node [shape=circle, fontname="Helvetica"];']
    for lt in locals_:
        sm, edges = _machine(lt)
        lines.append(f"  subgraph {_dot_id('cluster_' + lt.role)} {{")
        lines.append(f"    label={_dot_id(lt.role)};")
        start = _dot_id(f"{lt.role}:start")
        lines.append(f'    {start} [shape=point, label=""];')
        for n in sm.states:
            shape = ", shape=doublecircle" if n is sm.end else ""
            cls = fsm.class_name(sm.role, n)
            lines.append(f"    {_dot_id(cls)} [label={_dot_id(cls)}{shape}];")
        lines.append(f"    {start} -> {_dot_id(fsm.class_name(sm.role, sm.start))};")
        for e in edges:
            style = ", style=dashed" if e.control else ""
            lines.append(f"    {_dot_id(e.src)} -> {_dot_id(e.dst)} [label={_dot_id(e.label)}{style}];")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines)


def mermaid_states(lt: LocalType) -> str:
    """A role's state machine as a Mermaid ``stateDiagram-v2``, states named as the classes."""
    sm, edges = _machine(lt)
    lines = ["stateDiagram-v2", f"    [*] --> {fsm.class_name(sm.role, sm.start)}"]
    for e in edges:
        lines.append(f"    {e.src} --> {e.dst}: {_mm(e.label).replace(':', ' ')}")
    lines.append(f"    {fsm.class_name(sm.role, sm.end)} --> [*]")
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
                    if s.failure is not None:  # a failure branch: nobody chooses it
                        who = ref_text(s.failure)
                        head = f"alt {who} alive" if i == 0 else f"else {who} failed (crash or deadline)"
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
                what = " bumps the session epoch" if s.step == EPOCH_STEP else " runs " + s.step
                out.append(f"{pad}Note over {s.role.name}: {_mm(ref_text(s.role) + what)}")
            case Call():
                names = list(dict.fromkeys(a.name for a in s.args))
                over = ",".join(names[:1] + names[-1:]) if len(names) > 1 else (names[0] if names else everyone)
                if over:
                    args = ", ".join(ref_text(a) for a in s.args)
                    out.append(f"{pad}Note over {over}: call {s.target}({args})")
