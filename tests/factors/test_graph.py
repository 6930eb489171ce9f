from stratloop.factors import Number, parse
from stratloop.factors.graph import ExprGraph, replace_all, replace_at, subtrees, with_children


class TestGraph:
    def test_shared_subexpressions_are_one_node(self):
        """Repeated subtrees are a single node used several times."""
        expr = parse("(close - ts_min(close, 5)) / (ts_max(close, 5) - ts_min(close, 5))")
        graph = ExprGraph.build(expr)
        assert [node.text for node in graph.shared] == ["ts_min(close, 5)"]
        assert graph.uses[parse("close").key] == 4
        assert len(graph.nodes) < expr.size

    def test_topological_order(self):
        """Children come before their parents, each once."""
        expr = parse("rank(ts_mean(returns, 3)) + ts_mean(returns, 3)")
        order = [node.text for node in ExprGraph.build(expr).topological()]
        assert order.index("returns") < order.index("ts_mean(returns, 3)") < order.index(expr.text)
        assert len(order) == len(set(order))

    def test_replace_at_path(self):
        """A subtree is replaced by path, the rest kept."""
        expr = parse("rank(ts_mean(returns, 3)) - 1")
        paths = dict(subtrees(expr))
        assert paths[(0, 0, 1)] == Number(3)
        assert str(replace_at(expr, (0, 0, 1), Number(7))) == "rank(ts_mean(returns, 7)) - 1"
        assert replace_at(expr, (), Number(1)) == Number(1)

    def test_negated_literal_folds(self):
        """Replacing a negation's operand with a literal folds the sign."""
        expr = parse("-close")
        assert with_children(expr, (Number(2),)) == Number(-2)

    def test_replace_all_occurrences(self):
        """Every use of a shared subexpression is replaced."""
        expr = parse("ts_min(close, 5) / ts_min(close, 5) + close")
        new = replace_all(expr, parse("ts_min(close, 5)"), parse("ts_max(close, 7)"))
        assert str(new) == "ts_max(close, 7) / ts_max(close, 7) + close"
        assert replace_all(expr, parse("open"), parse("close")) is expr
