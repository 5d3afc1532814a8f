"""Course registry workflow: ``kursatlas kurse pruefen`` and ``kursatlas kurse neu``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from coverage._io import atomic_path
from coverage.cli import main
from coverage.errors import InputDataError
from coverage.inputs import load as load_mod
from coverage.inputs.config import load_config
from coverage.workflow.registry import add_course, check_registry

from .conftest import COURSE_HEADER, X0, Y0, _lonlat, write_tiny_region


def _new_values(**over: str) -> dict[str, str]:
    lon, lat = _lonlat(X0 + 4000, Y0 + 6000)
    values = {
        "kurs_id": "K100",
        "traeger": "VHS Aheim",
        "kursname": "A1 vormittags",
        "kursort": "Aheim",
        "adresse": "Schulstraße 2",
        "lat": f"{lat:.6f}",
        "lon": f"{lon:.6f}",
        "niveaus": "A1, A2",
        "kursart": "integrationskurs",
        "wochentage": "Mo, Mi",
        "beginn": "09:00",
        "ende": "12:00",
        "erster_tag": "2027-03-01",
        "letzter_tag": "2027-07-15",
        "plaetze": "20",
        "freie_plaetze": "20",
        "kinderbetreuung": "nein",
    }
    values.update(over)
    return values


def _cli_args(toml: Path, values: dict[str, str]) -> list[str]:
    args = ["kurse", "neu", "--config", str(toml)]
    for k, v in values.items():
        args += ["--" + k.replace("_", "-"), v]
    return args


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_add_course_appends_byte_preserving(tiny_region: Path) -> None:
    config = load_config(tiny_region)
    before = config.kurse.read_bytes()
    add_course(config, _new_values())
    after = config.kurse.read_bytes()
    assert after.startswith(before)
    new_line = after[len(before) :].decode("utf-8")
    assert new_line.startswith("K100;VHS Aheim;A1 vormittags;Aheim;Schulstraße 2;")
    assert new_line.endswith(";A1, A2;integrationskurs;Mo, Mi;09:00;12:00;2027-03-01;2027-07-15;20;20;nein\n")
    courses = load_mod.load_courses(config.kurse, load_mod.load_region(config))
    assert list(courses["kurs_id"]) == ["K1", "K2", "K100"]
    assert _no_temp_files(config.kurse.parent)


def test_add_course_keeps_bom_crlf_comma_and_adds_missing_newline(tmp_path: Path) -> None:
    lon, lat = _lonlat(X0 + 5000, Y0 + 5000)
    header = COURSE_HEADER.replace(";", ",")
    text = (
        f"{header}\r\n"
        f'K1,"Träger A, e.V.",A1,Aheim,Markt 1,{lat:.6f},{lon:.6f},"A1, A2",integrationskurs,Mo-Fr,'
        "08:30,11:45,2027-01-11,2027-06-30,25,5,nein"
    )
    toml = write_tiny_region(tmp_path / "r", courses="")
    course_file = toml.parent / "kurse.csv"
    course_file.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    before = course_file.read_bytes()
    add_course(load_config(toml), _new_values(traeger="VHS; Zeven, Außenstelle"))
    after = course_file.read_bytes()
    assert after.startswith(before + b"\r\n")
    new_line = after[len(before) + 2 :].decode("utf-8")
    assert new_line.startswith('K100,"VHS; Zeven, Außenstelle",')
    assert new_line.endswith("\r\n")
    assert '"A1, A2"' in new_line
    courses = load_mod.load_courses(course_file, load_mod.load_region(load_config(toml)))
    assert courses["traeger"].iloc[1] == "VHS; Zeven, Außenstelle"


@pytest.mark.parametrize(
    ("over", "column", "value"),
    [
        ({"beginn": "25:00"}, "beginn", "25:00"),
        ({"kurs_id": "K1"}, "kurs_id", "K1"),
        ({"niveaus": "A1, A7"}, "niveaus", "A1, A7"),
        ({"kursart": "sprachcafe"}, "kursart", "sprachcafe"),
        ({"freie_plaetze": "30"}, "freie_plaetze", "30"),
        ({"erster_tag": "2027-02-30"}, "erster_tag", "2027-02-30"),
    ],
)
def test_bad_new_row_leaves_file_unchanged(tiny_region: Path, over: dict, column: str, value: str) -> None:
    config = load_config(tiny_region)
    before = config.kurse.read_bytes()
    with pytest.raises(InputDataError) as err:
        add_course(config, _new_values(**over))
    assert err.value.column == column
    assert err.value.value == value
    assert err.value.file == str(config.kurse)
    assert err.value.row == 4  # the new row's line in the file
    assert str(config.kurse) in str(err.value)
    assert config.kurse.read_bytes() == before
    assert _no_temp_files(config.kurse.parent)


def test_outside_region_is_rejected(tiny_region: Path) -> None:
    config = load_config(tiny_region)
    before = config.kurse.read_bytes()
    with pytest.raises(InputDataError) as err:
        add_course(config, _new_values(lat="48.1", lon="11.5"))
    assert err.value.column == "lat/lon"
    assert "außerhalb des Analysegebiets" in str(err.value)
    assert config.kurse.read_bytes() == before


def test_unknown_column_is_rejected(tiny_region: Path) -> None:
    config = load_config(tiny_region)
    before = config.kurse.read_bytes()
    with pytest.raises(InputDataError) as err:
        add_course(config, _new_values(foerderung="ja"))
    assert err.value.column == "foerderung"
    assert config.kurse.read_bytes() == before


def test_online_course_without_coordinates(tiny_region: Path) -> None:
    config = load_config(tiny_region)
    add_course(config, _new_values(kurs_id="K9", kursart="online", kursort="online", lat="", lon="", adresse=""))
    courses = load_mod.load_courses(config.kurse, load_mod.load_region(config))
    assert bool(courses.set_index("kurs_id").at["K9", "online"])


def test_interrupted_add_leaves_file_intact(tiny_region: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(tiny_region)
    before = config.kurse.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(load_mod, "load_courses", boom)
    with pytest.raises(KeyboardInterrupt):
        add_course(config, _new_values())
    assert config.kurse.read_bytes() == before
    assert _no_temp_files(config.kurse.parent)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_atomic_path_interrupted_keeps_previous_file(tmp_path: Path, exc: type[BaseException]) -> None:
    target = tmp_path / "luecken.csv"
    target.write_bytes(b"alt;1\n")
    with pytest.raises(exc), atomic_path(target) as tmp, open(tmp, "wb") as fh:
        fh.write(b"neu;halb")
        raise exc
    assert target.read_bytes() == b"alt;1\n"
    assert _no_temp_files(tmp_path)


def test_cli_kurse_neu_and_pruefen(tiny_region: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_cli_args(tiny_region, _new_values())) == 0
    out = capsys.readouterr().out
    assert "Kurs K100" in out and "eingetragen" in out
    assert main(["kurse", "pruefen", "--config", str(tiny_region)]) == 0
    out = capsys.readouterr().out
    assert "3 Kurse, davon 1 online" in out
    assert "Kurse je Niveau:" in out and "Kurse je Kursart:" in out and "Kurse je Mitgliedskommune:" in out
    lines = out.splitlines()
    assert any(line.split() == ["A1", "2"] for line in lines)
    assert any(line.split() == ["Aheim", "2"] for line in lines)


def test_cli_kurse_neu_error_exit_code(tiny_region: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (tiny_region.parent / "kurse.csv").read_bytes()
    assert main(_cli_args(tiny_region, _new_values(beginn="25:00"))) == 1
    err = capsys.readouterr().err
    assert "Spalte 'beginn'" in err and "'25:00'" in err
    assert (tiny_region.parent / "kurse.csv").read_bytes() == before


def test_check_registry_warnings(tiny_region: Path) -> None:
    config = load_config(tiny_region)
    add_course(config, _new_values(kurs_id="K3", freie_plaetze="0", letzter_tag="2027-12-31"))
    summary = check_registry(config, today=dt.date(2027, 7, 1))
    assert summary.n_courses == 3
    assert summary.per_level["A1"] == 2
    assert summary.per_mk == {"Aheim": 2, "online": 1}
    text = "\n".join(summary.warnings)
    assert "Kurs K3 (A1, A2, Aheim) hat keine freien Plätze mehr." in text
    assert "K1" in text and "bereits beendet" in text
    assert "Hinweise (" in "\n".join(summary.lines())


def test_check_registry_reports_invalid_registry(tiny_region: Path) -> None:
    config = load_config(tiny_region)
    text = config.kurse.read_text(encoding="utf-8").replace("08:30", "8:75")
    config.kurse.write_text(text, encoding="utf-8")
    with pytest.raises(InputDataError) as err:
        check_registry(config)
    assert err.value.column == "beginn" and err.value.row == 2


def test_registry_with_xy_columns_gets_converted_coordinates(tmp_path: Path) -> None:
    header = COURSE_HEADER.replace(";lat;lon;", ";x;y;")
    text = (
        f"{header}\n"
        f"K1;Träger A;A1;Aheim;Markt 1;{X0 + 5000:.1f};{Y0 + 5000:.1f};A1;integrationskurs;Mo-Fr;"
        "08:30;11:45;2027-01-11;2027-06-30;25;5;nein\n"
    )
    toml = write_tiny_region(tmp_path / "r", courses=text)
    toml.write_text(toml.read_text(encoding="utf-8").replace('spalte = "einwohner"\n',
                                                             'spalte = "einwohner"\ncrs = "EPSG:25832"\n'),
                    encoding="utf-8")
    # the residents file uses lat/lon; the registry uses x/y in the configured CRS
    config = load_config(toml)
    add_course(config, _new_values())
    courses = load_mod.load_courses(config.kurse, load_mod.load_region(config), crs=config.einwohner_crs)
    pt = courses.set_index("kurs_id").geometry["K100"]
    assert abs(pt.x - (X0 + 4000)) < 1 and abs(pt.y - (Y0 + 6000)) < 1
