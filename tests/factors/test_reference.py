from pathlib import Path

from stratloop.factors import default_library, dsl_reference
from stratloop.factors.ops import OPERATORS

DOC = Path(__file__).resolve().parents[2] / "docs" / "factors.md"


class TestReference:
    def test_lists_every_operator_and_template(self):
        """The generated reference names every operator signature and template."""
        text = dsl_reference()
        for operator in OPERATORS.values():
            assert operator.signature in text
        for template in default_library().templates:
            assert f"`{template.name}`" in text

    def test_docs_embed_the_current_reference(self):
        """docs/factors.md contains the reference exactly as generated."""
        assert dsl_reference() in DOC.read_text(encoding="utf-8"), (
            "regenerate the reference block in docs/factors.md from dsl_reference()"
        )
