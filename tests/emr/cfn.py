"""CloudFormation templates as plain data, for asserting what they ask AWS for.

``load`` parses with cfn-lint's decoder (it understands ``!Ref``, ``!Sub``, ``!If``);
``Resolver`` evaluates the intrinsics for given parameter values, the way CloudFormation
would, leaving resources' ids and attributes as readable placeholders such as
``<ServiceRole>`` and ``<ClusterKey.Arn>``, and says which Rules refuse those values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List

from cfnlint.decode import decode

NO_VALUE = object()  # AWS::NoValue: the property or list item disappears
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "<account>",
    "AWS::StackName": "abcspark-emr",
}


def load(path: Path) -> dict:
    """The template as nested dicts and lists (intrinsics in their long form)."""
    template, problems = decode(str(path))
    assert not problems, problems
    return json.loads(json.dumps(template))  # plain dicts, lists and strings


class Resolver:
    """Evaluate a template's intrinsic functions for one set of parameter values."""

    def __init__(self, template: dict, **parameters: str):
        defaults = {
            name: str(spec["Default"])
            for name, spec in template["Parameters"].items()
            if "Default" in spec
        }
        unknown = set(parameters) - set(template["Parameters"])
        assert not unknown, f"not parameters of the template: {unknown}"
        self.values: Dict[str, Any] = {**PSEUDO, **defaults, **parameters}
        for name, spec in template["Parameters"].items():
            if spec["Type"] == "CommaDelimitedList" and name in self.values:
                self.values[name] = self.values[name].split(",")
        self.resources = set(template["Resources"])
        self.rules = template.get("Rules", {})
        self.conditions: Dict[str, bool] = {}
        for name, condition in template.get("Conditions", {}).items():
            self.conditions[name] = self.condition(condition)

    def refused_by(self) -> List[str]:
        """The Rules whose assertions fail for these parameter values."""
        return [
            name
            for name, rule in self.rules.items()
            if ("RuleCondition" not in rule or self.condition(rule["RuleCondition"]))
            and not all(self.condition(item["Assert"]) for item in rule["Assertions"])
        ]

    def condition(self, node: Any) -> bool:
        ((function, argument),) = node.items()
        if function == "Fn::Equals":
            return self(argument[0]) == self(argument[1])
        if function == "Fn::And":
            return all(self.condition(item) for item in argument)
        if function == "Fn::Or":
            return any(self.condition(item) for item in argument)
        if function == "Fn::Not":
            return not self.condition(argument[0])
        if function == "Condition":
            return self.conditions[argument]
        raise NotImplementedError(function)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.resources:
            return f"<{name}>"
        return self.values[name]

    def sub(self, text: str) -> str:
        def replace(match: re.Match) -> str:
            name = match.group(1)
            return f"<{name}>" if "." in name else str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in map(self, node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::Sub":
                return self.sub(argument)
            if function == "Fn::If":
                return self(argument[1] if self.conditions[argument[0]] else argument[2])
            if function == "Fn::GetAtt":
                return f"<{'.'.join(argument)}>"
            if function == "Fn::Join":
                return argument[0].join(self(argument[1]))
        resolved = {key: self(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}


def api_form(configurations: list) -> list:
    """CloudFormation's ConfigurationProperties renamed to the API's Properties."""

    def convert(classification: dict) -> dict:
        converted = {}
        for key, value in classification.items():
            if key == "ConfigurationProperties":
                converted["Properties"] = value
            elif key == "Configurations":
                converted[key] = [convert(item) for item in value]
            else:
                converted[key] = value
        return converted

    return [convert(item) for item in configurations]
