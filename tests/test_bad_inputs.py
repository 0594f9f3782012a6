"""A catalogue of bad inputs to a study on real data, the init template and the typing tool.

Every case gives exactly one ReplicationError whose message names the file and, where it
applies, the row, line and column; no file below ``tmp_path`` is written or changed (a
digest of the folder is compared before and after). The CLI cases (exit code 2, one
``error:`` line, no traceback) skip until the lead wires the commands.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from replication import cli
from replication.errors import ReplicationError
from replication.membership import model_card as mc
from replication.study import loader
from replication.study.demo import write_demo_survey
from replication.study.init_template import init_template, write_template
from replication.study.sources import read_user_survey
from replication.study.spec import load_study

from conftest import analyse_fast


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def digest(folder: Path) -> dict:
    """Every file and folder below ``folder``: content hash (size and mtime for big sparse files)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_dir():
            out[rel] = "dir"
        elif p.stat().st_size > 8 * 2**20:
            st = p.stat()
            out[rel] = (st.st_size, st.st_mtime_ns)
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass
class Ctx:
    tmp: Path
    spec: object
    survey: pd.DataFrame
    card: dict
    forrester_card: dict
    result: object
    monkeypatch: object

    def csv(self, df=None, name="survey.csv", **kw) -> Path:
        path = self.tmp / name
        (self.survey if df is None else df).to_csv(path, index=False, **kw)
        return path

    def read(self, block):
        return lambda: read_user_survey(block, self.spec, self.tmp)

    def sav(self, df=None, name="survey.sav", **kw) -> Path:
        path = self.tmp / name
        pyreadstat.write_sav(self.survey if df is None else df, str(path), **kw)
        return path

    def card_file(self, card=None, name="card.json") -> Path:
        path = self.tmp / name
        path.write_text(json.dumps(self.card if card is None else card, indent=2), encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def fitted(spec, forrester, sample):
    from replication.study.simulate import simulate_survey
    gol = analyse_fast(spec, sample.survey)
    forr = analyse_fast(forrester, simulate_survey(forrester, n=300).survey)
    return {"survey": sample.survey.head(200).copy(), "card": mc.build_model_card(gol),
            "forrester_card": mc.build_model_card(forr), "result": gol}


@pytest.fixture
def ctx(tmp_path, spec, fitted, monkeypatch):
    return Ctx(tmp_path, spec, fitted["survey"].copy(), json.loads(json.dumps(fitted["card"])),
               fitted["forrester_card"], fitted["result"], monkeypatch)


def blanked(df, rows, cols):
    out = df.astype(object)
    for c in cols:
        out.loc[out.index[rows], c] = ""
    return out


# ---------------------------------------------------------------------------------------
# the catalogue: each case sets up its files and returns (action, fragments the message has)
# ---------------------------------------------------------------------------------------

CASES = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


# -- read_user_survey: the file -----------------------------------------------------------

@case("file-not-found")
def _(c):
    return c.read({"file": "nowhere.csv"}), [str(c.tmp / "nowhere.csv"), "not found"]


@case("file-not-found-suggests-a-near-name")
def _(c):
    c.csv(name="survey_2024.csv")
    return c.read({"file": "survey_2042.csv"}), ["survey_2042.csv", "did you mean 'survey_2024.csv'"]


@case("folder-given-as-file")
def _(c):
    (c.tmp / "data.csv").mkdir()
    return c.read({"file": "data.csv"}), [str(c.tmp / "data.csv"), "is a folder"]


@case("empty-file")
def _(c):
    (c.tmp / "s.csv").write_bytes(b"")
    return c.read({"file": "s.csv"}), [str(c.tmp / "s.csv"), "empty"]


@case("blank-lines-only")
def _(c):
    (c.tmp / "s.csv").write_text("\n\n  \n", encoding="utf-8")
    return c.read({"file": "s.csv"}), [str(c.tmp / "s.csv"), "empty"]


@case("header-only")
def _(c):
    (c.tmp / "s.csv").write_text(",".join(c.survey.columns) + "\n", encoding="utf-8")
    return c.read({"file": "s.csv"}), [str(c.tmp / "s.csv"), "no respondents"]


@case("utf16-with-byte-order-mark")
def _(c):
    (c.tmp / "s.csv").write_bytes(c.survey.to_csv(index=False).encode("utf-16"))
    return c.read({"file": "s.csv"}), [str(c.tmp / "s.csv"), "UTF-16", "encoding: utf-16"]


@case("utf16-without-byte-order-mark")
def _(c):
    (c.tmp / "s.csv").write_bytes(c.survey.to_csv(index=False).encode("utf-16-le"))
    return c.read({"file": "s.csv"}), ["UTF-16", "encoding: utf-16-le"]


@case("latin1-text")
def _(c):
    df = c.survey.copy()
    df["city"] = "Moscow"
    df.loc[df.index[1], "city"] = "Québec"
    (c.tmp / "s.csv").write_bytes(df.to_csv(index=False).encode("latin-1"))
    return c.read({"file": "s.csv", "carry": ["city"]}), [f"{c.tmp / 's.csv'}, line 3", "not UTF-8",
                                                          "Latin-1", "Québec", "encoding: cp1252", "convert"]


@case("unknown-encoding")
def _(c):
    c.csv()
    return c.read({"file": "survey.csv", "encoding": "utf-9"}), ["unknown encoding 'utf-9'"]


@case("semicolon-delimited")
def _(c):
    c.csv(sep=";")
    return c.read({"file": "survey.csv"}), [f"{c.tmp / 'survey.csv'}, line 1", "semicolon-delimited",
                                            'delimiter: ";"']


@case("tab-delimited")
def _(c):
    c.csv(sep="\t")
    return c.read({"file": "survey.csv"}), ["tab-delimited", 'delimiter: "\\t"']


@case("ragged-row")
def _(c):
    lines = c.survey.to_csv(index=False).splitlines()
    lines[2] += ",7"
    (c.tmp / "s.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return c.read({"file": "s.csv"}), [f"{c.tmp / 's.csv'}, row 2 (line 3)", f"{c.survey.shape[1] + 1} field(s)"]


@case("unterminated-quote")
def _(c):
    lines = c.survey.to_csv(index=False).splitlines()
    lines[5] = lines[5].replace(",", ',"', 1)
    (c.tmp / "s.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return c.read({"file": "s.csv"}), [f"{c.tmp / 's.csv'}, line 6", "malformed CSV", "never closed"]


@case("duplicate-header")
def _(c):
    lines = c.survey.to_csv(index=False).splitlines()
    lines[0] = lines[0].replace("cp2", "cp1")
    (c.tmp / "s.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return c.read({"file": "s.csv"}), [f"{c.tmp / 's.csv'}, column 'cp1'", "twice"]


@case("nul-bytes")
def _(c):
    (c.tmp / "s.csv").write_bytes(b"respondent_id,cp1\n1,\x00\x00\x03\n")
    return c.read({"file": "s.csv"}), [f"{c.tmp / 's.csv'}, line 2", "NUL"]


@case("missing-item-column")
def _(c):
    c.csv(c.survey.drop(columns="cp3").rename(columns={"cp4": "cp_3"}))
    return c.read({"file": "survey.csv"}), [f"{c.tmp / 'survey.csv'}, column 'cp3'", "no such column",
                                            "construct 'content_personalization'", "similar columns: 'cp_3'"]


@case("mapped-column-missing")
def _(c):
    c.csv()
    return c.read({"file": "survey.csv", "items": {"cp1": "Q1_1"}}), ["column 'Q1_1'", "item 'cp1'"]


@case("id-column-missing")
def _(c):
    c.csv()
    return c.read({"file": "survey.csv", "id": "resp_id"}), ["column 'resp_id'", "respondent id column", "similar columns: 'respondent_id'"]


@case("carried-column-missing")
def _(c):
    c.csv()
    return c.read({"file": "survey.csv", "carry": ["weight"]}), ["column 'weight'", "data.carry names it"]


@case("duplicate-respondent-id")
def _(c):
    df = c.survey.copy()
    df.loc[df.index[2], "respondent_id"] = df["respondent_id"].iloc[0]
    c.csv(df)
    return c.read({"file": "survey.csv", "id": "respondent_id"}), [
        f"{c.tmp / 'survey.csv'}, row 3 (line 4), column 'respondent_id'", "duplicate respondent id 1 (first in row 1)"]


@case("empty-respondent-id")
def _(c):
    c.csv(blanked(c.survey, [1], ["respondent_id"]))
    return c.read({"file": "survey.csv", "id": "respondent_id"}), [
        f"{c.tmp / 'survey.csv'}, row 2 (line 3), column 'respondent_id'", "id is empty"]


@case("text-in-a-numeric-csv-item")
def _(c):
    df = c.survey.astype(object)
    df.loc[df.index[1], "cp1"] = "agree"
    c.csv(df)
    return c.read({"file": "survey.csv"}), [f"{c.tmp / 'survey.csv'}, row 2 (line 3), column 'cp1'", "'agree' is text",
                                            "missing_codes"]


@case("decimal-comma")
def _(c):
    df = c.survey.astype(object)
    df.loc[df.index[4], "ho2"] = "3,5"
    c.csv(df, sep=";")
    return c.read({"file": "survey.csv", "delimiter": ";"}), ["row 5 (line 6), column 'ho2'", "decimal comma"]


@case("text-in-a-numeric-sav-variable")
def _(c):
    df = c.survey.copy()
    df["cp1"] = df["cp1"].astype(str)
    df.loc[df.index[0], "cp1"] = "Agree"
    c.sav(df)
    return c.read({"file": "survey.sav"}), [f"{c.tmp / 'survey.sav'}, row 1, column 'cp1'", "'Agree' is text",
                                            "string variable"]


@case("value-labels-outside-the-scale")
def _(c):
    c.sav(variable_value_labels={"cp1": {1: "Strongly disagree", 7: "Strongly agree", 99: "Don't know"}})
    return c.read({"file": "survey.sav"}), [f"{c.tmp / 'survey.sav'}, column 'cp1'", "value label 99",
                                            "outside the scale 1-7", "missing_codes: [99]"]


@case("value-labels-on-another-scale")
def _(c):
    c.sav(variable_value_labels={"ho1": {0: "Not at all", 6: "Completely"}})
    return c.read({"file": "survey.sav"}), ["column 'ho1'", "value label 0", "scale_min"]


@case("corrupt-sav")
def _(c):
    (c.tmp / "s.sav").write_bytes(b"$FL2" + os.urandom(400))
    return c.read({"file": "s.sav"}), [str(c.tmp / "s.sav"), "not a readable SPSS .sav file"]


@case("text-file-named-sav")
def _(c):
    (c.tmp / "s.sav").write_text(c.survey.to_csv(index=False), encoding="utf-8")
    return c.read({"file": "s.sav"}), [str(c.tmp / "s.sav"), "not an SPSS .sav file", "format: csv"]


@case("sav-file-named-csv")
def _(c):
    c.sav(name="s.csv")
    return c.read({"file": "s.csv"}), [str(c.tmp / "s.csv"), "SPSS .sav file, not CSV"]


@case("excel-workbook")
def _(c):
    (c.tmp / "s.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    return c.read({"file": "s.xlsx"}), [str(c.tmp / "s.xlsx"), "Excel", "CSV"]


@case("excel-workbook-named-csv")
def _(c):
    (c.tmp / "s.csv").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    return c.read({"file": "s.csv"}), [str(c.tmp / "s.csv"), "Excel workbook"]


@case("file-too-large-for-memory")
def _(c):
    c.monkeypatch.setattr(loader, "machine_memory", lambda: 2**30)   # 1 GiB: the limit is ~18 MB
    path = c.tmp / "huge.csv"
    with open(path, "wb") as fh:
        fh.truncate(64 * 2**20)                                       # sparse: no disk used
    return c.read({"file": "huge.csv"}), [str(path), "67 MB", "memory"]


@case("fewer-respondents-than-segments")
def _(c):
    c.csv(c.survey.head(4))
    return c.read({"file": "survey.csv"}), [str(c.tmp / "survey.csv"), "4 respondent(s)", "fewer than the 5 segments"]


@case("everyone-dropped-out-of-range")
def _(c):
    df = c.survey.copy()
    df["pc2"] = 9
    c.csv(df)
    return c.read({"file": "survey.csv", "out_of_range": "drop"}), ["0 respondent(s)", "out-of-range answer",
                                                                   "fewer than the 5 segments"]


@case("undeclared-missing-code")
def _(c):
    df = c.survey.copy()
    df["pc2"] = 9
    c.csv(df)
    return c.read({"file": "survey.csv"}), ["survey.csv, row 1 (line 2), column 'pc2'", "9 (", "missing_codes: [9]"]


@case("constant-item")
def _(c):
    df = c.survey.copy()
    df["cp2"] = 4
    c.csv(df)
    return c.read({"file": "survey.csv"}), [f"{c.tmp / 'survey.csv'}, column 'cp2'", "same answer (4)", "constant item"]


@case("construct-more-than-half-missing")
def _(c):
    c.csv(blanked(c.survey, slice(None), ["pr1", "pr2", "pr3"]))
    return c.read({"file": "survey.csv", "missing": {"min_items": 1}}), [
        f"{c.tmp / 'survey.csv'}, column 'pr1'", "75% of the answers to construct 'privacy_concerns'", "more than half"]


@case("unknown-data-key")
def _(c):
    c.csv()
    return c.read({"file": "survey.csv", "revrse": ["cp1"]}), ["data.revrse", "unknown key", "did you mean 'reverse'"]


@case("data-block-not-a-mapping")
def _(c):
    return c.read(["survey.csv"]), ["data", "mapping"]


@case("reverse-of-an-unknown-item")
def _(c):
    c.csv()
    return c.read({"file": "survey.csv", "reverse": ["cp9"]}), ["data.reverse", "'cp9' is neither an item"]


@case("min-items-above-the-items-of-a-construct")
def _(c):
    c.csv()
    return c.read({"file": "survey.csv", "missing": {"min_items": 5}}), ["data.missing.min_items",
                                                                         "exceeds the 4 items"]


@case("bad-missing-policy")
def _(c):
    return c.read({"file": "survey.csv", "missing": "pairwise"}), ["data.missing", "listwise"]


@case("two-items-from-one-column")
def _(c):
    c.csv()
    return c.read({"file": "survey.csv", "items": {"cp1": "cp2"}}), ["data.items", "both read from column 'cp2'"]


@case("yaml-data-block-typo-names-its-line")
def _(c):
    sav, yml = write_demo_survey(c.tmp / "demo", n=40, seed=1)
    text = yml.read_text(encoding="utf-8").replace("  carry: [age", "  cary: [age")
    yml.write_text(text, encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("  cary:"))
    return (lambda: load_study(yml)), [f"{yml}, line {line}: data.cary: unknown key 'cary'"]


# -- init_template ------------------------------------------------------------------------

@case("init-file-not-found")
def _(c):
    return (lambda: init_template(c.tmp / "none.sav")), [str(c.tmp / "none.sav"), "not found"]


@case("init-folder")
def _(c):
    (c.tmp / "survey.sav").mkdir()
    return (lambda: init_template(c.tmp / "survey.sav")), [str(c.tmp / "survey.sav"), "is a folder"]


@case("init-latin1")
def _(c):
    df = c.survey.rename(columns={"age": "âge"})
    (c.tmp / "s.csv").write_bytes(df.to_csv(index=False).encode("latin-1"))
    return (lambda: init_template(c.tmp / "s.csv")), [f"{c.tmp / 's.csv'}, line 1", "Latin-1", "--encoding"]


@case("init-header-only")
def _(c):
    (c.tmp / "s.csv").write_text("a,b,c\n", encoding="utf-8")
    return (lambda: init_template(c.tmp / "s.csv")), [str(c.tmp / "s.csv"), "no respondents"]


@case("init-single-column")
def _(c):
    (c.tmp / "s.csv").write_text("answers\n1\n2\n", encoding="utf-8")
    return (lambda: init_template(c.tmp / "s.csv")), [str(c.tmp / "s.csv"), "single column"]


@case("init-stata-file")
def _(c):
    (c.tmp / "s.dta").write_bytes(b"<stata_dta>")
    return (lambda: init_template(c.tmp / "s.dta")), [str(c.tmp / "s.dta"), "Stata", "CSV"]


@case("init-corrupt-sav")
def _(c):
    (c.tmp / "s.sav").write_bytes(b"$FL2\x00\x01")
    return (lambda: init_template(c.tmp / "s.sav")), [str(c.tmp / "s.sav"), "not a readable SPSS"]


@case("init-refuses-to-overwrite")
def _(c):
    data = c.csv()
    (c.tmp / "survey.yaml").write_text("my own study\n", encoding="utf-8")
    return (lambda: write_template(data)), [str(c.tmp / "survey.yaml"), "already exists", "--force"]


@case("init-output-is-a-folder")
def _(c):
    data = c.csv()
    (c.tmp / "out.yaml").mkdir()
    return (lambda: write_template(data, c.tmp / "out.yaml")), [str(c.tmp / "out.yaml"), "is a folder"]


# -- load_model_card / classify -------------------------------------------------------------

@case("card-corrupt-json")
def _(c):
    path = c.card_file()
    text = path.read_text(encoding="utf-8").splitlines()
    text[2] = text[2].rstrip(",")          # a comma lost
    path.write_text("\n".join(text), encoding="utf-8")
    return (lambda: mc.load_model_card(path)), [f"{path}, line 4, column", "corrupt JSON"]


@case("card-truncated")
def _(c):
    path = c.card_file()
    path.write_bytes(path.read_bytes()[:300])
    return (lambda: mc.load_model_card(path)), [str(path), "corrupt JSON", "line"]


@case("card-empty")
def _(c):
    (c.tmp / "card.json").write_text("", encoding="utf-8")
    return (lambda: mc.load_model_card(c.tmp / "card.json")), [str(c.tmp / "card.json"), "empty"]


@case("card-newer-schema")
def _(c):
    path = c.card_file({**c.card, "schema_version": mc.SCHEMA_VERSION + 1})
    return (lambda: mc.load_model_card(path)), [str(path), f"schema_version {mc.SCHEMA_VERSION + 1}", "newer version",
                                                "Upgrade"]


@case("card-of-another-study")
def _(c):
    path = c.card_file(c.forrester_card)
    return (lambda: mc.load_model_card(path, study_id="golovacheva2022")), [
        str(path), "for study 'forrester2016'", "not 'golovacheva2022'"]


@case("card-is-a-folder")
def _(c):
    (c.tmp / "card.json").mkdir()
    return (lambda: mc.load_model_card(c.tmp / "card.json")), [str(c.tmp / "card.json"), "is a folder"]


@case("card-not-found")
def _(c):
    return (lambda: mc.load_model_card(c.tmp / "card.json")), [str(c.tmp / "card.json"), "not found"]


@case("card-not-a-card")
def _(c):
    path = c.card_file([1, 2, 3])
    return (lambda: mc.load_model_card(path)), [str(path), "invalid model card", "JSON object"]


@case("card-with-nan")
def _(c):
    path = c.card_file()
    path.write_text(path.read_text(encoding="utf-8").replace(str(c.card["segmentation"]["mean"][0]), "NaN", 1),
                    encoding="utf-8")
    return (lambda: mc.load_model_card(path)), [str(path), "NaN is not allowed"]


@case("card-negative-scale")
def _(c):
    card = c.card
    card["segmentation"]["scale"][1] = -1.0
    path = c.card_file(card)
    return (lambda: mc.load_model_card(path)), [str(path), "segmentation.scale[1]", "positive"]


@case("card-unknown-segment")
def _(c):
    card = c.card
    card["segmentation"]["clusters"][0]["segment"] = "ghosts"
    path = c.card_file(card)
    return (lambda: mc.load_model_card(path)), [str(path), "segmentation.clusters[0].segment", "ghosts"]


@case("card-save-into-a-folder")
def _(c):
    (c.tmp / "card.json").mkdir()
    return (lambda: mc.save_model_card(c.card, c.tmp / "card.json")), [str(c.tmp / "card.json"), "is a folder"]


@case("classify-item-missing")
def _(c):
    df = c.survey.drop(columns="ih2")
    return (lambda: mc.classify(c.card, df, source=c.tmp / "new.csv")), [
        f"{c.tmp / 'new.csv'}, column 'ih2'", "needs item 'ih2'"]


@case("classify-out-of-range")
def _(c):
    df = c.survey.copy()
    df.loc[df.index[1], "pc1"] = 8
    return (lambda: mc.classify(c.card, df, source=c.tmp / "new.csv")), [
        f"{c.tmp / 'new.csv'}, row 2, column 'pc1'", "answer 8 is not a scale point 1-7"]


@case("classify-text-answer")
def _(c):
    df = c.survey.astype(object)
    df.loc[df.index[3], "cp4"] = "high"
    return (lambda: mc.classify(c.card, df, source=c.tmp / "new.csv")), [
        f"{c.tmp / 'new.csv'}, row 4, column 'cp4'", "'high' is not a number"]


@case("classify-probabilities-without-a-logit")
def _(c):
    from replication.study.spec import load_study
    forr = load_study("forrester2016")
    df = pd.DataFrame({it: [3, 4] for cc in forr.constructs for it in cc.items.value})
    return (lambda: mc.classify(c.forrester_card, df, probabilities=True, source=c.tmp / "new.csv")), [
        str(c.tmp / "new.csv"), "no membership model"]


@case("classify-new-file-lacks-the-id-column")
def _(c):
    path = c.csv(c.survey.drop(columns="respondent_id"), name="new.csv")
    card = {**c.card, "input": {"id": "respondent_id"}}
    return (lambda: mc.read_new_respondents(card, path)), [f"{path}, column 'respondent_id'", "respondent id"]


# -- write_assignments ---------------------------------------------------------------------

@case("assignments-into-a-read-only-folder")
def _(c):
    folder = c.tmp / "out"
    folder.mkdir()
    (folder / "segments.csv").write_text("old\n", encoding="utf-8")
    make_read_only(folder, c.monkeypatch)
    return (lambda: mc.write_assignments(c.result, folder / "segments.csv", folder / "segments.sav")), [
        str(folder / "segments.csv"), "permission denied", "read-only"]


@case("assignments-path-is-a-folder")
def _(c):
    (c.tmp / "segments.sav").mkdir()
    return (lambda: mc.write_assignments(c.result, c.tmp / "segments.csv", c.tmp / "segments.sav")), [
        str(c.tmp / "segments.sav"), "is a folder"]


@case("assignments-parent-is-a-file")
def _(c):
    (c.tmp / "out").write_text("a file\n", encoding="utf-8")
    return (lambda: mc.write_assignments(c.result, c.tmp / "out" / "segments.csv")), [
        str(c.tmp / "out" / "segments.csv"), "is a file, not a folder"]


@case("card-into-a-read-only-folder")
def _(c):
    folder = c.tmp / "cards"
    folder.mkdir()
    make_read_only(folder, c.monkeypatch)
    return (lambda: mc.save_model_card(c.card, folder / "card.json")), [str(folder / "card.json"), "permission denied"]


READ_ONLY: list = []


def make_read_only(folder: Path, monkeypatch) -> None:
    """Make ``folder`` refuse new files, even for root (chmod, else the immutable flag, else a stub)."""
    os.chmod(folder, 0o555)
    probe = folder / ".probe"
    try:
        probe.touch()
    except PermissionError:
        READ_ONLY.append(("chmod", folder))
        return
    probe.unlink()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        READ_ONLY.append(("chattr", folder))
        return
    import tempfile   # last resort: the folder refuses through the call every writer makes

    real = tempfile.mkstemp

    def refuse(*args, dir=None, **kw):
        if dir is not None and Path(dir) == folder:
            raise PermissionError(13, "Permission denied", str(folder))
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


@pytest.fixture(autouse=True)
def _undo_read_only():
    yield
    while READ_ONLY:
        how, folder = READ_ONLY.pop()
        if how == "chattr":
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        os.chmod(folder, 0o755)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, ctx):
    action, fragments = CASES[name](ctx)
    before = digest(ctx.tmp)
    with pytest.raises(ReplicationError) as info:
        action()
    msg = str(info.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in: {msg}"
    assert "Traceback" not in msg
    assert digest(ctx.tmp) == before, "a file was written or changed"
    assert not [p for p in ctx.tmp.rglob(".*.tmp")], "a temporary file was left behind"


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 30


# ---------------------------------------------------------------------------------------
# a UTF-8 byte-order mark (as Excel writes it): read correctly, not refused
# ---------------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


def test_byte_order_mark_is_read_correctly_everywhere(ctx):
    data = ctx.tmp / "survey.csv"
    data.write_bytes(BOM + ctx.survey.to_csv(index=False).encode("utf-8"))
    user = read_user_survey({"file": "survey.csv", "id": "respondent_id"}, ctx.spec, ctx.tmp)
    assert user.n == len(ctx.survey) and user.survey["respondent_id"].iloc[0] == 1
    assert any("byte-order mark" in n for n in user.notes)
    assert "respondent_id" in init_template(data)                 # not "\ufeffrespondent_id"
    assert "\ufeff" not in init_template(data)
    card = ctx.tmp / "card.json"
    card.write_bytes(BOM + json.dumps(ctx.card).encode("utf-8"))
    assert mc.load_model_card(card) == ctx.card


# ---------------------------------------------------------------------------------------
# hostile segment names: handled, not refused
# ---------------------------------------------------------------------------------------

HOSTILE = ["Big $_$ spenders", "<script>alert('x')</script>", "\u202eevil\u202c right-to-left override",
           "מחפשי ערוצים (Hebrew, right to left)", "A $5 deal"]


@pytest.fixture(scope="module")
def hostile(spec, sample):
    segments = [s.model_copy(update={"name": s.name.model_copy(update={"value": n})})
                for s, n in zip(spec.segments, HOSTILE)]
    named = spec.model_copy(update={"segments": segments})
    return analyse_fast(named, sample.survey)


def test_hostile_segment_names_survive_every_output(hostile, tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    card = mc.load_model_card(mc.save_model_card(mc.build_model_card(hostile), tmp_path / "card.json"))
    assert [s["name"] for s in card["segments"]] == HOSTILE
    out = mc.classify(card, hostile.survey)
    assert set(out["segment_name"]) <= set(HOSTILE)
    mc.write_assignments(hostile, tmp_path / "a.csv", tmp_path / "a.sav")
    assert set(pd.read_csv(tmp_path / "a.csv")["segment_name"]) <= set(HOSTILE)
    _, meta = pyreadstat.read_sav(str(tmp_path / "a.sav"), metadataonly=True)
    assert set(HOSTILE) <= set(meta.variable_value_labels["segment_code"].values())
    for name in HOSTILE:
        fig = Figure()
        fig.text(0, 0, mc.safe_label(name))
        fig.suptitle(mc.safe_label(name))
        FigureCanvasAgg(fig).draw()
        assert "<script>" not in html.escape(name)


# ---------------------------------------------------------------------------------------
# the CLI: exit 2, one line, no traceback, nothing written
# ---------------------------------------------------------------------------------------


def run_main(*args) -> int:
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in args])
    return info.value.code


def _init_missing_file(c):
    return ["init", c.tmp / "none.csv"], [str(c.tmp / "none.csv"), "not found"]


def _init_folder(c):
    (c.tmp / "x.csv").mkdir()
    return ["init", c.tmp / "x.csv"], [str(c.tmp / "x.csv"), "is a folder"]


def _init_existing_yaml(c):
    (c.tmp / "x.yaml").write_text("mine\n", encoding="utf-8")
    return ["init", c.csv(), "--output", c.tmp / "x.yaml"], [str(c.tmp / "x.yaml"), "already exists", "--force"]


def _init_wrong_delimiter(c):
    return ["init", c.csv(sep=";"), "--delimiter", ","], [str(c.tmp / "survey.csv"), "semicolon-delimited"]


def _classify_newer_card(c):
    return ["classify", c.card_file({**c.card, "schema_version": 99}), c.csv()], ["schema_version 99", "newer"]


def _classify_missing_item(c):
    return ["classify", c.card_file(), c.csv(c.survey.drop(columns="cp1"))], [str(c.tmp / "survey.csv"),
                                                                              "column 'cp1'"]


def _classify_corrupt_card(c):
    (c.tmp / "card.json").write_text("{oops", encoding="utf-8")
    return ["classify", c.tmp / "card.json", c.csv()], [f"{c.tmp / 'card.json'}, line 1, column 2", "corrupt JSON"]


def _data_study(c, mutate) -> Path:
    sav, yml = write_demo_survey(c.tmp / "study", n=60, seed=2)
    mutate(sav, yml)
    return yml


def _run(c, mutate, fragments):
    return ["run", "--no-notebooks", "--root", c.tmp / "root", "--study", _data_study(c, mutate)], fragments


def _run_data_file_missing(c):
    return _run(c, lambda sav, yml: sav.unlink(), ["demo_survey.sav", "not found"])


def _run_corrupt_sav(c):
    return _run(c, lambda sav, yml: sav.write_bytes(b"$FL2broken"), ["demo_survey.sav", "not a readable SPSS"])


def _run_wrong_id_column(c):
    def rename(sav, yml):
        yml.write_text(yml.read_text(encoding="utf-8").replace("id: case_id", "id: caseid"), encoding="utf-8")
    return _run(c, rename, ["column 'caseid'", "respondent id"])


CLI_CASES = [
    pytest.param(_init_missing_file, id="init-missing-file"),
    pytest.param(_init_folder, id="init-folder"),
    pytest.param(_init_existing_yaml, id="init-refuses-to-overwrite"),
    pytest.param(_init_wrong_delimiter, id="init-wrong-delimiter"),
    pytest.param(_classify_newer_card, id="classify-newer-card"),
    pytest.param(_classify_missing_item, id="classify-missing-item"),
    pytest.param(_classify_corrupt_card, id="classify-corrupt-card"),
    pytest.param(_run_data_file_missing, id="run-data-file-missing"),
    pytest.param(_run_corrupt_sav, id="run-corrupt-sav"),
    pytest.param(_run_wrong_id_column, id="run-wrong-id-column"),
]


@pytest.mark.parametrize("make", CLI_CASES)
def test_bad_input_at_the_cli(make, ctx, capsys):
    argv, fragments = make(ctx)
    before = digest(ctx.tmp)
    assert run_main(*argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err
    for f in fragments:
        assert f in captured.err, f"{f!r} not in: {captured.err}"
    assert digest(ctx.tmp) == before
