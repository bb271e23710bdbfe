"""Views: local type text, per-role DOT state machines, the Mermaid sequence diagram, and
the CLI commands that print them."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path

from codegen.backend.views import dot, mermaid, render_local
from codegen.cli import main
from codegen.core.local import LocalType
from codegen.pipeline import Compiled, compile_text

ROOT = Path(__file__).resolve().parents[2]
TWO_BUYER = ROOT / "tests" / "specs" / "good" / "two_buyer.yaml"


def compiled(text: str) -> Compiled:
    c = compile_text(textwrap.dedent(text), "v.yaml")
    assert c.ok, [d.headline() for d in c.diagnostics]
    return c


def two_buyer() -> Compiled:
    return compile_text(TWO_BUYER.read_text(encoding="utf-8"), "two_buyer.yaml")


KITCHEN_SINK = """\
protocol: Sink
params: [n]
vars: {price: int}
roles: [A, B, "W[3]"]
messages: {Go: {}, Stop: {}, Job: {}, Done: {}, Ping: {}, Pong: {}, Tick: {}, Note: {}}
interactions:
  - A -> B: {message: Note, flow_cost: 5, timeout: 2}
  - rec R:
      - choice at A:
          go:
            when: "price > 3"
            do:
              - A -> B: Go
              - continue R
          stop:
            - A -> B: Stop
  - loop:
      count: n
      do:
        - A -> W[*]: Job
  - loop:
      decides: B
      do:
        - B -> A: Ping
        - A -> B: Pong
  - parallel:
      - - A -> B: Tick
      - - B -> A: Tick
  - W[0..2] -> A: Done
"""


# ---------------------------------------------------------------- render_local


def test_render_local_two_buyer_seller() -> None:
    assert render_local(two_buyer().locals["Seller"]) == textwrap.dedent(
        """\
        role Seller of TwoBuyer:
          receive Title from Buyer1
          send Quote to Buyer1
          send Quote to Buyer2
          offer from Buyer2 {
            Address [accept]:
              receive Address from Buyer2
              send Date to Buyer2
            Quit [reject]:
              receive Quit from Buyer2
          }
          end"""
    )


def test_render_local_every_construct() -> None:
    c = compiled(KITCHEN_SINK)
    assert render_local(c.locals["A"]) == textwrap.dedent(
        """\
        role A of Sink:
          send Note to B  # cost 5; timeout 2s
          rec R {
            select {
              go when price > 3:
                send Go to B
                continue R
              stop:
                send Stop to B
            }
          }
          loop n times {
            send Job to W[*]
          }
          loop decided by B {
            receive Ping from B
            send Pong to B
          }
          parallel {
            branch 1:
              send Tick to B
            branch 2:
              receive Tick from B
          }
          receive Done from W[0..2]
          end"""
    )
    assert render_local(c.locals["W"]) == textwrap.dedent(
        """\
        family W (each member) of Sink:
          loop n times {
            receive Job from A
          }
          send Done to A (members 0..2)
          end"""
    )
    assert "loop decided here, telling A {" in render_local(c.locals["B"])


def test_render_local_is_deterministic() -> None:
    assert render_local(two_buyer().locals["Buyer2"]) == render_local(two_buyer().locals["Buyer2"])


def test_render_local_of_empty_type() -> None:
    assert render_local(LocalType("P", "X", False, ())) == "role X of P:\n  end"


# ---------------------------------------------------------------- dot


def _edges(text: str) -> list[tuple[str, str, str]]:
    return re.findall(r'"(\w+)" -> "(\w+)" \[label="([^"]*)"', text)


def test_dot_two_buyer_buyer1_is_a_chain() -> None:
    text = dot([two_buyer().locals["Buyer1"]])
    assert text.startswith('digraph "TwoBuyer" {\n')
    assert '  subgraph "cluster_Buyer1" {' in text
    assert '"Buyer1:start" -> "Buyer1_S0";' in text
    assert _edges(text) == [("Buyer1_S0", "Buyer1_S1", "!Seller:Title"), ("Buyer1_S1", "Buyer1_S2", "?Seller:Quote"),
                            ("Buyer1_S2", "Buyer1_End", "!Buyer2:Share")]
    assert '"Buyer1_End" [label="Buyer1_End", shape=doublecircle];' in text
    assert text.endswith("}")


def test_dot_states_are_the_generated_classes() -> None:
    import generated.examples.two_buyer as gen

    c = two_buyer()
    for role, lt in c.locals.items():
        states = {n for e in _edges(dot([lt])) for n in e[:2]}
        assert states and all(hasattr(gen, s) for s in states), (role, states)


def test_dot_without_role_is_one_document_with_a_cluster_per_role() -> None:
    c = two_buyer()
    text = dot([c.locals[r] for r in sorted(c.locals)])
    assert text.count("digraph") == 1 and text.count("subgraph") == 3


def test_dot_offer_branches_and_join_at_end() -> None:
    edges = _edges(dot([two_buyer().locals["Seller"]]))
    labels = [lab for _, _, lab in edges]
    assert labels[:3] == ["?Buyer1:Title", "!Buyer1:Quote", "!Buyer2:Quote"]
    offer_state = edges[2][1]
    out = {lab: dst for src, dst, lab in edges if src == offer_state}
    assert set(out) == {"?Buyer2:Address", "?Buyer2:Quit"}
    # Both branches end in the same final state.
    (date_end,) = [dst for src, dst, lab in edges if lab == "!Buyer2:Date"]
    assert date_end == out["?Buyer2:Quit"] == "Seller_End"


def test_dot_rec_makes_a_back_edge() -> None:
    c = compiled(KITCHEN_SINK)
    edges = _edges(dot([c.locals["B"]]))
    src, dst = next((src, dst) for src, dst, lab in edges if lab == "?A:Go")
    assert int(dst.rpartition("_S")[2]) <= int(src.rpartition("_S")[2])  # back to the offer (or earlier)
    numbers = sorted(int(s.rpartition("_S")[2]) for e in edges for s in e[:2] if "_S" in s)
    assert set(numbers) == set(range(numbers[-1] + 1))  # numbered densely from S0


def test_dot_is_deterministic_and_quotes_labels() -> None:
    c = compiled(KITCHEN_SINK)
    assert dot([c.locals["W"]]) == dot([c.locals["W"]])
    assert '"?A:Job"' in dot([c.locals["W"]])


# ---------------------------------------------------------------- mermaid


def test_mermaid_two_buyer() -> None:
    p = two_buyer().protocol
    assert p is not None
    assert mermaid(p) == textwrap.dedent(
        """\
        sequenceDiagram
            participant Buyer1
            participant Buyer2
            participant Seller
            Buyer1->>Seller: Title
            Seller->>Buyer1: Quote
            Seller->>Buyer2: Quote
            Buyer1->>Buyer2: Share
            alt accept at Buyer2
                Buyer2->>Seller: Address
                Seller->>Buyer2: Date
            else reject
                Buyer2->>Seller: Quit
            end"""
    )


def test_mermaid_blocks_and_notes() -> None:
    p = compiled(KITCHEN_SINK).protocol
    assert p is not None
    text = mermaid(p)
    assert "participant W as W[3]" in text
    assert "loop rec R" in text and "alt go at A when price > 3" in text
    assert "Note over A,W: continue R" in text
    assert "loop n times" in text and "loop decided by B" in text
    assert "\n    par\n" in text and "\n    and\n" in text
    assert "W->>A: Done (W[0..2] -> A)" in text
    assert text.count("end") >= 5


def test_mermaid_calls_are_notes() -> None:
    c = compiled(
        """\
        protocol: Calls
        roles: [A, B]
        messages: {Hi: {}}
        interactions:
          - call Greet(A, B)
        subprotocols:
          Greet:
            roles: [X, Y]
            interactions:
              - X -> Y: Hi
        """
    )
    assert c.protocol is not None
    assert mermaid(c.protocol).splitlines()[-1] == "    Note over A,B: call Greet(A, B)"


# ---------------------------------------------------------------- CLI


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_project_one_role() -> None:
    code, out, err = run("project", str(TWO_BUYER), "--role", "Buyer1")
    assert code == 0, err
    assert out.startswith("role Buyer1 of TwoBuyer:\n  send Title to Seller")


def test_cli_project_all_roles_and_unknown_role() -> None:
    code, out, _ = run("project", str(TWO_BUYER))
    assert code == 0 and out.count("of TwoBuyer:") == 3
    code, _, err = run("project", str(TWO_BUYER), "--role", "Buyer3")
    assert code == 2 and "no role 'Buyer3'" in err


def test_cli_graph_mermaid_and_dot() -> None:
    code, out, _ = run("graph", str(TWO_BUYER))
    assert code == 0 and out.startswith("sequenceDiagram")
    code, out, _ = run("graph", str(TWO_BUYER), "--format", "dot", "--role", "Seller")
    assert code == 0 and out.startswith('digraph "TwoBuyer"') and "cluster_Seller" in out
    code, out, _ = run("graph", str(TWO_BUYER), "--format", "mermaid", "--role", "Seller")
    assert code == 0 and out.startswith("stateDiagram-v2\n    [*] --> Seller_S0\n")


def test_failure_branches_in_the_views() -> None:
    """A failure branch is not a choice anyone makes: the diagram says who failed, the
    receiver's local type says the peer has failed."""
    c = compiled((ROOT / "protocols" / "examples" / "heartbeat.yaml").read_text(encoding="utf-8"))
    assert c.protocol is not None
    text = mermaid(c.protocol)
    assert "alt Coordinator alive" in text and "else Coordinator failed (crash or deadline)" in text
    monitor = render_local(c.locals["Monitor"])
    assert "Coordinator has failed (crashed or missed the deadline)" in monitor
    assert "send TakeOver to Backup" in monitor
