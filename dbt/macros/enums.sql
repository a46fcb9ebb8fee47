{# The source enumerations the marts pivot on (the landing contract, lib/schemas.py). #}

{% macro spend_categories() -%}
    {{ return(['Food & Grocery', 'Travel', 'Ecom', 'Exam', 'Utilities', 'Fuel', 'Entertainment', 'Health']) }}
{%- endmacro %}

{% macro payment_modes() -%}
    {{ return(['UPI', 'QR', 'Card', 'NetBanking']) }}
{%- endmacro %}

{# "Food & Grocery" -> "food_grocery": a column-name slug. #}
{% macro slug(value) -%}
    {{ return(modules.re.sub('[^a-z0-9]+', '_', value | lower).strip('_')) }}
{%- endmacro %}
