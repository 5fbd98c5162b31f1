{#-
    One row per ad × account-local day. Platform conversions are Meta's deduplicated purchases,
    the `omni_purchase` action (count and value); Meta leaves the lists out when they are zero,
    so an ad-day without that action has 0.
-#}
{%- set conversion_action_type = 'omni_purchase' -%}

with insights as (

    {{ union_tenant_sources('meta_ads', 'insights', {
        'ad_id': 'bigint',
        'date_start': 'date',
        'account_id': 'bigint',
        'account_currency': 'varchar',
        'campaign_id': 'bigint',
        'campaign_name': 'varchar',
        'objective': 'varchar',
        'adset_id': 'bigint',
        'adset_name': 'varchar',
        'ad_name': 'varchar',
        'impressions': 'bigint',
        'clicks': 'bigint',
        'spend': money_type(),
    }) }}

),

purchases as (

    {{ union_tenant_sources('meta_ads', 'insights__actions', {
        'ad_id': 'bigint',
        'date_start': 'date',
        'action_type': 'varchar',
        'value': 'decimal(18, 6)',
    }) }}

),

purchase_values as (

    {{ union_tenant_sources('meta_ads', 'insights__action_values', {
        'ad_id': 'bigint',
        'date_start': 'date',
        'action_type': 'varchar',
        'value': money_type(),
    }) }}

)

select
    insights.tenant_id,
    insights.ad_id,
    insights.date_start as date_day,
    insights.account_id,
    insights.campaign_id,
    insights.campaign_name,
    insights.objective,
    insights.adset_id as ad_set_id,
    insights.adset_name as ad_set_name,
    insights.ad_name,
    upper(insights.account_currency) as currency_code,
    insights.spend,
    insights.impressions,
    insights.clicks,
    cast(coalesce(purchases.value, 0) as decimal(18, 6)) as conversions,
    cast(coalesce(purchase_values.value, 0) as {{ money_type() }}) as conversions_value
from insights
left join purchases
    on purchases.tenant_id = insights.tenant_id
    and purchases.ad_id = insights.ad_id
    and purchases.date_start = insights.date_start
    and purchases.action_type = '{{ conversion_action_type }}'
left join purchase_values
    on purchase_values.tenant_id = insights.tenant_id
    and purchase_values.ad_id = insights.ad_id
    and purchase_values.date_start = insights.date_start
    and purchase_values.action_type = '{{ conversion_action_type }}'
