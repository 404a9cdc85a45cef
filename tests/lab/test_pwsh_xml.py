"""[xml] in the lab's PowerShell: casts, PowerShell's XML adapter, the XPath the scripts use, errors."""

from __future__ import annotations

from rollup.lab.pwsh.host import run_powershell
from rollup.lab.state import HostState, MemoryBlobStore
from rollup.lab.windows.machine import Machine


def _ps(script: str) -> tuple[list[str], str]:
    machine = Machine(
        HostState(name="WEB01", roles=["web"]), MemoryBlobStore(), now=0.0, user="HOSTING\\admin"
    )
    run = run_powershell(script, machine)
    return run.stdout.splitlines(), run.stderr


DOC = '$x = [xml]\'<a><b n="1">t</b><b n="2" /><c>text</c><d /></a>\'\n'


def test_the_adapter_gives_attributes_text_and_arrays() -> None:
    out, err = _ps(
        DOC
        + r"""
$x.a.c
$x.a.b.Count
$x.a.b[0].n
$x.a.b[0].'#text'
"[$($x.a.d)]"
@($x.a).Count
$x.A.C
$x.a.GetType().FullName
"""
    )

    assert err == ""
    assert out == ["text", "2", "1", "t", "[]", "1", "text", "System.Xml.XmlElement"]


def test_xpath_selects_by_path_name_and_attribute() -> None:
    out, err = _ps(
        DOC
        + r"""
$x.SelectNodes('/a/b').Count
$x.SelectNodes('//b[@n="2"]').Count
$x.SelectNodes('/a/*').Count
$x.SelectSingleNode('/a/b[2]').GetAttribute('n')
$x.SelectNodes('/A/B').Count
$null -eq $x.SelectSingleNode('/a/e')
$x.DocumentElement.SelectSingleNode('c').InnerText
"""
    )

    assert err == ""
    assert out == ["2", "1", "4", "2", "0", "True", "text"]


def test_text_that_is_not_xml_fails_as_dotnet_fails() -> None:
    _, err = _ps("$x = [xml]'not xml'")

    assert (
        'Cannot convert value "not xml" to type "System.Xml.XmlDocument". '
        'Error: "Data at the root level is invalid. Line 1, position 1."'
    ) in err


def test_an_xpath_the_model_lacks_fails_loudly() -> None:
    _, err = _ps(DOC + "$x.SelectNodes('count(//b)')")

    assert "does not evaluate" in err
