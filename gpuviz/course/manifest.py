"""The course manifest, course/manifest.json: notebooks in order (number, file, title, minutes, colab:
written yet), each with its exercises (ID, points). Tools and tests read it, so the README table and
the syllabus cannot drift from it.

    python -m gpuviz.course.manifest                   # print the README's notebook table
    python -m gpuviz.course.manifest --write README.md # replace the table between the markers in place
    python -m gpuviz.course.manifest --sync            # update manifest.json from course/solutions/
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

PATH = Path(__file__).resolve().parents[2] / "course" / "manifest.json"   # the checkout's course/
START, END = "<!-- notebooks:start -->", "<!-- notebooks:end -->"


def load(path: Path | str = PATH) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def notebooks(path: Path | str = PATH) -> list[dict]:
    return load(path)["notebooks"]


def exercises(path: Path | str = PATH) -> dict[str, int]:
    """exercise ID -> points, in course order."""
    return {e["id"]: e["points"] for nb in notebooks(path) for e in nb["exercises"]}


def colab_url(file: str, repo_url: str, branch: str = "main", folder: str = "notebooks") -> str:
    owner_repo = repo_url.rstrip("/").removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/{folder}/{file}"


def readme_table(repo_url: str | None = None, path: Path | str = PATH) -> str:
    """The README's notebook table (markdown), with Colab links built from `repo_url`
    (default: gpuviz.course.conventions.REPO_URL)."""
    from gpuviz.course import conventions

    repo_url = repo_url or conventions.REPO_URL
    rows = ["| # | Notebook | Time | Exercises (points) | Open |", "|---|---|---|---|---|"]
    for nb in notebooks(path):
        ex = nb["exercises"]
        points = f"{len(ex)} ({sum(e['points'] for e in ex)})" if ex else "–"
        if nb["colab"]:
            url = colab_url(nb["file"], repo_url, conventions.BRANCH, conventions.STUDENT_DIR)
            name = f"[{nb['title']}]({conventions.STUDENT_DIR}/{nb['file']})"
            open_ = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"
        else:
            name, open_ = nb["title"], "in preparation"
        rows.append(f"| {nb['number']} | {name} | {nb['minutes']} min | {points} | {open_} |")
    return "\n".join(rows)


def with_table(readme: str, table: str) -> str:
    """`readme` with the text between the markers replaced by `table`."""
    if START not in readme or END not in readme:
        raise ValueError(f"the README needs the markers {START} and {END}")
    head, rest = readme.split(START, 1)
    return f"{head}{START}\n{table}\n{END}{rest.split(END, 1)[1]}"


TITLE_RE = re.compile(r"^# (\d\d) · (.+)$", re.M)
MINUTES_RE = re.compile(r"Time: about (\d+) minutes\.")


def from_source(path: Path) -> dict:
    """A manifest entry read from an instructor source: number and title from its `# NN · Title`
    heading, minutes from `Time: about N minutes.`, exercises from its graded (check) cells."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    title, minutes = TITLE_RE.search(text), MINUTES_RE.search(text)
    if not title or not minutes:
        raise ValueError(f"{path}: needs a '# NN · Title' heading and 'Time: about N minutes.'")
    graded = [c["metadata"]["nbgrader"] for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
    return {"number": title.group(1), "file": Path(path).name, "title": title.group(2).strip(),
            "minutes": int(minutes.group(1)), "colab": True,
            "exercises": [{"id": g["grade_id"], "points": g["points"]} for g in graded]}


def synced(manifest: dict, sources: Path) -> dict:
    """`manifest` with every lesson that has a source in `sources` rewritten from it (new lessons
    added, in number order); lessons without a source keep their entry, marked not written."""
    written = {e["number"]: e for e in map(from_source, sorted(Path(sources).glob("[0-9][0-9]_*.ipynb")))}
    planned = {e["number"]: {**e, "colab": False, "exercises": []} for e in manifest["notebooks"]}
    return {**manifest, "notebooks": [v for _, v in sorted({**planned, **written}.items())]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpuviz.course.manifest", description="Render the README's notebook table.")
    p.add_argument("--write", type=Path, metavar="README", help="replace the table between the markers in this file")
    p.add_argument("--repo-url", help="repository URL for the Colab links (default: gpuviz.course.conventions.REPO_URL)")
    p.add_argument("--sync", action="store_true",
                   help="rewrite course/manifest.json from the sources in course/solutions/, then stop")
    args = p.parse_args(argv)
    if args.sync:
        data = synced(load(), PATH.parents[1] / "course" / "solutions")
        tmp = PATH.with_name(PATH.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, PATH)
        print(f"{PATH}: {sum(e['colab'] for e in data['notebooks'])} written notebooks, "
              f"{len(data['notebooks'])} in all", file=sys.stderr)
        return 0
    table = readme_table(args.repo_url)
    if not args.write:
        print(table)
        return 0
    text = with_table(args.write.read_text(encoding="utf-8"), table)
    tmp = args.write.with_name(args.write.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, args.write)
    print(f"notebook table written to {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
