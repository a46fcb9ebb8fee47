"""Resources whose every value is the deployment's: a run's launch config cannot change any of them.

Dagster turns the values a resource is built with into *defaults* of its config schema, which a
run's config may override: ``{"resources": {"fpr_api": {"config": {"base_url": ...}}}}`` would send
the API key to another host, and the same path could swap the masking key, the warehouse file or
the dbt executable. Every resource here mixes in :class:`FixedByDeployment`, which hands Dagster a
definition with an empty config schema, so such a run config is refused at launch by Dagster's own
validation ("Received unexpected config entry ... at path root:resources:<name>:config"). The
values are the ones the resource was built with, from the settings the definitions read; a
``dg.EnvVar`` among them (the keys) is still read when the run initialises the resource, in the
run's process, exactly as Dagster does for a nested resource. What a person may choose per run
(the model of a report, its thresholds, ``full_refresh``) is op config, which this leaves alone.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, cast

import dagster as dg

# Dagster's own machinery for initialising a resource from the values it was built with (the same
# calls its nested-resource path makes); pinned with dagster==1.13.* in setup.py.
from dagster._config.pythonic_config.resource import ConfigurableResourceFactoryResourceDefinition
from dagster._config.validate import process_config

_NO_RUN_CONFIG: dict[str, Any] = {}


class FixedByDeployment:
    """Mixin for a ``dg.ConfigurableResource`` (listed before it): no value is run config."""

    @cached_property
    def fixed_resource_definition(self) -> ConfigurableResourceFactoryResourceDefinition:
        resource = cast(dg.ConfigurableResource, self)
        built = super().get_resource_definition()  # type: ignore[misc]
        schema = built.config_schema

        def initialize(context: dg.InitResourceContext) -> Any:
            # The built values, processed now: defaults filled, each EnvVar read from this process.
            processed = process_config({"config": schema.config_type}, {"config": schema.default_value})
            if not processed.success:
                raise dg.DagsterInvalidConfigError(
                    f"The {type(resource).__name__} settings of this deployment are invalid",
                    processed.errors,
                    schema.default_value,
                )
            return built.resource_fn(context.replace_config(cast(dict, processed.value)["config"]))

        return ConfigurableResourceFactoryResourceDefinition(
            type(resource),
            resource_fn=initialize,
            config_schema=_NO_RUN_CONFIG,
            description=(built.description or "") + "\n\nSet by the deployment: runs cannot configure it.",
            nested_resources=built.nested_resources,
            nested_partial_resources=built.nested_partial_resources,
            dagster_maintained=resource._is_dagster_maintained(),  # noqa: SLF001
        )

    def get_resource_definition(self) -> ConfigurableResourceFactoryResourceDefinition:
        # Always the same object: Dagster resolves resources by the definition's identity.
        return self.fixed_resource_definition
