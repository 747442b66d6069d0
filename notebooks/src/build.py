"""Build .ipynb files from percent-format scripts (cells split at '# %%'), without outputs.

    python notebooks/src/build.py SOURCE.py TARGET.ipynb [SOURCE.py TARGET.ipynb ...]
"""
import sys
import nbformat

def build(src, dst):
    text = open(src).read()
    cells = []
    for chunk in text.split("# %%")[1:]:
        if chunk.startswith(" [markdown]"):
            body = chunk[len(" [markdown]"):].strip("\n")
            lines = [l[2:] if l.startswith("# ") else l.lstrip("#") for l in body.splitlines()]
            cells.append(nbformat.v4.new_markdown_cell("\n".join(lines).strip()))
        else:
            cells.append(nbformat.v4.new_code_cell(chunk.strip("\n")))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, dst)

if __name__ == "__main__":
    for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):
        build(src, dst)
