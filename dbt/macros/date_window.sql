{#
  The window of days a partitioned run rebuilds, from the vars min_date / max_date (ISO dates,
  both included; Dagster passes its partition range). A missing bound is open, so a plain
  `dbt build` rebuilds every day; so does --full-refresh, whatever the vars say, because a
  rebuilt table must hold every day, not only the window.

  Incremental facts use these macros: the model selects only the window, and a pre-hook deletes
  the window first, so rerunning a range replaces it instead of doubling it, and a day that has
  no rows any more does not keep stale ones (what delete+insert on the key would miss).
#}

{% macro date_window_bounds() -%}
    {%- if flags.FULL_REFRESH -%}
        {{ return((none, none)) }}
    {%- endif -%}
    {{ return((var('min_date', none), var('max_date', none))) }}
{%- endmacro %}


{#
  `column` within the window. lookback_days widens the window backwards for models whose
  features look back in time (the previous payment, failures in the last 30 minutes): they read
  the window plus the look-back and keep only the window's rows, so every row sees the same
  history in a one-day run, a backfill and a full build.
#}
{% macro date_window_predicate(column, lookback_days=0) -%}
    {%- set min_date, max_date = date_window_bounds() -%}
    {%- if min_date is none and max_date is none -%}
        true
    {%- else -%}
        {%- if min_date is not none -%}
            {{ column }} >= cast('{{ min_date }}' as date){% if lookback_days %} - interval {{ lookback_days }} days{% endif %}
        {%- endif -%}
        {%- if min_date is not none and max_date is not none %} and {% endif -%}
        {%- if max_date is not none -%}
            {{ column }} <= cast('{{ max_date }}' as date)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{% macro delete_date_window(column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ date_window_predicate(column) }}
    {%- endif -%}
{%- endmacro %}
