"""The Jenkins plugin knowledge base: what each plugin element does and what it becomes here.

The data lives in ``jenkins_plugins.yaml`` beside this module, one entry per plugin class (config.xml
element) or declarative ``options`` name, each with its plugin, what it does in Jenkins, the honest
Airflow/Kubernetes mapping and its class:

- ``mapped``: the converter applies the mapping (the reader in ``jenkins_xml``/``jenkinsfile`` does it);
- ``no-op``: nothing to carry over on the batch platform; listed in the report for transparency, never
  counted as an item to review;
- ``review``: a real decision; the entry holds the question a person answers;
- ``manual``: the job as a whole needs migrating by hand.

Every entry names the plugin's documentation page as its source. An element that is not in the base
is reported as ``review`` with its raw XML, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml

DATA_FILE = Path(__file__).with_name("jenkins_plugins.yaml")
CLASSES = ("mapped", "no-op", "review", "manual")
Where = Literal["property", "trigger", "builder", "publisher", "wrapper", "option", "step", "element"]


@dataclass(frozen=True)
class PluginEntry:
    key: str  # the config.xml element (plugin class) or the declarative option/step name
    where: str
    plugin: str
    does: str
    mapping: str
    cls: str  # one of CLASSES
    source: str
    question: str = ""  # review: the decision to make


class KnowledgeBaseError(ValueError):
    pass


def _entry(key: str, raw: object, path: Path) -> PluginEntry:
    if not isinstance(raw, dict):
        raise KnowledgeBaseError(f"{path}: entry {key!r}: expected a mapping, got {type(raw).__name__}")
    fields = {"where", "plugin", "does", "mapping", "class", "source", "question"}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise KnowledgeBaseError(f"{path}: entry {key!r}: unknown field(s) {unknown}; allowed: {sorted(fields)}")
    missing = sorted({"where", "plugin", "does", "mapping", "class", "source"} - set(raw))
    if missing:
        raise KnowledgeBaseError(f"{path}: entry {key!r}: missing field(s) {missing}")
    values = {name: raw[name] for name in raw}
    for name, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise KnowledgeBaseError(f"{path}: entry {key!r}: field {name!r} = {value!r}: expected non-empty text")
    if values["class"] not in CLASSES:
        raise KnowledgeBaseError(f"{path}: entry {key!r}: class = {values['class']!r}: expected one of {list(CLASSES)}")
    if values["where"] not in Where.__args__:
        raise KnowledgeBaseError(f"{path}: entry {key!r}: where = {values['where']!r}: expected one of {list(Where.__args__)}")
    if not values["source"].startswith("https://"):
        raise KnowledgeBaseError(f"{path}: entry {key!r}: source = {values['source']!r}: expected an https:// page")
    if values["class"] == "review" and not values.get("question"):
        raise KnowledgeBaseError(f"{path}: entry {key!r}: a review entry needs the question to answer")
    return PluginEntry(key=key, where=values["where"], plugin=values["plugin"], does=values["does"],
                       mapping=values["mapping"], cls=values["class"], source=values["source"],
                       question=values.get("question", ""))


def load(path: Path = DATA_FILE) -> dict[str, PluginEntry]:
    """Every entry of the knowledge base file, validated."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise KnowledgeBaseError(f"{path}: expected a mapping with an 'entries' mapping")
    return {str(key): _entry(str(key), raw, path) for key, raw in data["entries"].items()}


@lru_cache(maxsize=1)
def entries() -> dict[str, PluginEntry]:
    return load()


def lookup(key: str) -> PluginEntry | None:
    return entries().get(key)
