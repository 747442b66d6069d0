"""The architecture, checked: layers and no import cycles, no private names across subpackages, small
modules and functions."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "biotag"
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60
# A function may be longer when its definition says why, on the line above it: "# long: <reason>".
LONG_REASON = re.compile(r"#\s*long:\s*\S")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_layers_hold():
    pytest.importorskip("importlinter")
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_module_imports_one_that_imports_it_back():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("biotag", exclude_type_checking_imports=True)
    # A package's __init__ imports its modules to re-export their names; that is not a cycle of modules.
    packages = {m for m in graph.modules if graph.find_children(m)}
    edges = {m: {n for n in graph.find_modules_directly_imported_by(m) if n not in packages}
             for m in graph.modules if m not in packages}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_no_module_imports_a_private_name_from_another_subpackage():
    found = []
    for path in modules():
        here = module_name(path).split(".")
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("biotag"):
                continue
            there = node.module.split(".")
            names = [a.name for a in node.names]
            private = [p for p in there[1:] if p.startswith("_") and p != "_version"]
            private += [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and there[:2] != here[:2]:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {private} from {node.module}")
    assert not found, found


def test_modules_and_functions_fit_on_a_screen():
    too_long = []
    for path in modules():
        lines = path.read_text().splitlines()
        if len(lines) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(PACKAGE.parent)}: {len(lines)} lines")
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
                length = node.end_lineno - start
                said = start > 0 and LONG_REASON.search(lines[start - 1])
                if length > MAX_FUNCTION_LINES and not said:
                    too_long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, too_long


def test_public_names_load_on_first_use_so_validating_smiles_never_imports_torch(tmp_path):
    src = tmp_path / "one.csv"
    src.write_text("smiles\nCCO\nC1CC(\n")
    script = f"""
import sys
import biotag
from biotag.cli import main
assert main(["validate", {str(src)!r}, "--domain", "smiles"]) == 1  # row 1 is invalid
heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
assert not heavy, heavy
assert biotag.SmilesFeaturizer().transform(["OCC"]) == ["CCO"] and "torch" not in sys.modules
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr

    import biotag  # here torch is loaded already: every public name resolves to its definition
    from biotag.estimators import TagLLMRegressor

    assert set(biotag.__all__) <= set(dir(biotag)) and all(getattr(biotag, name) is not None for name in biotag.__all__)
    assert biotag.TagLLMRegressor is TagLLMRegressor and biotag.tags.TagLibrary is biotag.TagLibrary
    with pytest.raises(AttributeError, match="TagLLMRegresor"):
        biotag.TagLLMRegresor
    # the names editors and type checkers see (the TYPE_CHECKING imports) are the names that load
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    hinted = {(node.module, alias.name) for block in tree.body if isinstance(block, ast.If)
              for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert hinted == {(module, name) for name, module in biotag._PUBLIC.items()}


def test_listing_the_benchmark_and_reading_its_results_load_no_model_library():
    script = """
import sys
from biotag.cli import main
import biotag.benchmark.report  # what `biotag benchmark report` imports before it reads the results
assert main(["benchmark", "list"]) == 0
heavy = sorted(m for m in ("torch", "transformers", "rdkit", "sklearn", "peft") if m in sys.modules)
assert not heavy, heavy
from biotag.benchmark import MODELS
assert {"linear_probe_pooled", "lora", "rf_morgan", "tagllm", "tagllm_paper"} <= set(MODELS)
assert [m for m in MODELS if m.startswith("tagllm")] == ["tagllm", "tagllm_paper", "tagllm_earlier"]
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr
