{%- set click_id_parameters = ['gclid', 'msclkid', 'li_fat_id', 'ttclid', 'fbclid'] -%}

with visits as (

    {{ union_tenant_sources('shopify', 'orders__customer_journey_summary__moments', {
        '_dlt_parent_id': 'varchar',
        '_dlt_list_idx': 'integer',
        'id': 'varchar',
        'occurred_at': 'timestamptz',
        'source': 'varchar',
        'source_type': 'varchar',
        'source_description': 'varchar',
        'referrer_url': 'varchar',
        'landing_page': 'varchar',
        'referral_code': 'varchar',
        'utm_parameters__source': 'varchar',
        'utm_parameters__medium': 'varchar',
        'utm_parameters__campaign': 'varchar',
        'utm_parameters__content': 'varchar',
        'utm_parameters__term': 'varchar',
    }) }}

),

orders as (

    {{ union_tenant_sources('shopify', 'orders', {'id': 'varchar', '_dlt_id': 'varchar'}) }}

),

shops as (

    select tenant_id, timezone from {{ ref('stg_shopify__shop') }}

),

parsed as (

    select
        visits.*,
        orders.id as order_id,
        nullif(regexp_replace(
            regexp_extract(lower(visits.referrer_url), '^[a-z][a-z0-9+.-]*://([^/:?#]+)', 1),
            '^www\.', ''
        ), '') as referrer_host,
        {%- for parameter in click_id_parameters %}
        nullif(regexp_extract(visits.landing_page, '[?&]{{ parameter }}=([^&#]*)', 1), '')
            as {{ parameter }}{{ ',' if not loop.last }}
        {%- endfor %}
    from visits
    inner join orders
        on orders.tenant_id = visits.tenant_id
        and orders._dlt_id = visits._dlt_parent_id

)

select
    parsed.tenant_id,
    parsed.order_id,
    parsed._dlt_list_idx as visit_position,
    parsed.id as visit_id,
    parsed.occurred_at as visited_at,
    {{ local_date('parsed.occurred_at', 'shops.timezone') }} as visit_date,
    parsed.source as visit_source,
    parsed.source_type as marketing_tactic,
    parsed.source_description as visit_source_description,
    parsed.referrer_url,
    parsed.referrer_host,
    parsed.landing_page as landing_page_url,
    parsed.referral_code,
    parsed.utm_parameters__source as utm_source,
    parsed.utm_parameters__medium as utm_medium,
    parsed.utm_parameters__campaign as utm_campaign,
    parsed.utm_parameters__content as utm_content,
    parsed.utm_parameters__term as utm_term,
    case
        {%- for parameter in click_id_parameters %}
        when parsed.{{ parameter }} is not null then '{{ parameter }}'
        {%- endfor %}
    end as click_id_parameter,
    coalesce(
        {%- for parameter in click_id_parameters %}
        parsed.{{ parameter }}{{ ',' if not loop.last }}
        {%- endfor %}
    ) as click_id
from parsed
left join shops on shops.tenant_id = parsed.tenant_id
