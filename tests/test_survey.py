"""`demem traces`: the survey table and JSON over a small corpus of notes."""
import json

from pipelines import cli
from pipelines.survey import survey


def test_survey_counts_families_shares_and_masked_forms(jsonl):
    path = jsonl("notes.jsonl", [
        {"id": "a", "text": "INDICATION: ___ year old woman seen [**2151-8-5**] by Dr. ___."},
        {"id": "b", "text": "Contact <PERSON> at <PHONE_NUMBER>."},
        {"id": "c", "text": "Nothing to see here at all."},
        b"{not json",
    ])
    result = survey([path])
    assert result["documents"] == 3
    fam = result["families"]
    assert fam["mimic_blank"]["markers"] == 2 and abs(fam["mimic_blank"]["document_share"] - 1 / 3) < 1e-9
    assert fam["presidio_tag"]["top_forms"] == [("<PERSON>", 1), ("<PHONE_NUMBER>", 1)]
    assert fam["mimic_bracket"]["top_forms"] == [("[**9999-9-9**]", 1)]  # digits masked
    assert 0 < fam["mimic_blank"]["token_share"] < 1


def test_traces_command_prints_a_table_or_json(jsonl, capsys):
    path = jsonl("n.jsonl", [{"id": "a", "text": "Seen by Dr. ___ on ___."}])
    assert cli.main(["traces", "--input", path]) == 0
    table = capsys.readouterr().out
    assert "mimic_blank" in table and "% docs" in table
    assert cli.main(["traces", "--input", path, "--json", "--top", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["families"]["mimic_blank"]["markers"] == 2
    assert cli.main(["traces", "--input", path + ".missing"]) == 3
