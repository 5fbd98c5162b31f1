with metrics as (

    {{ union_tenant_sources('google_ads', 'ad_daily_metrics', {
        'customer_id': 'bigint',
        'currency_code': 'varchar',
        'campaign_id': 'bigint',
        'ad_group_id': 'bigint',
        'ad_id': 'bigint',
        'date': 'varchar',
        'impressions': 'bigint',
        'clicks': 'bigint',
        'cost_micros': 'bigint',
        'conversions': 'decimal(18, 6)',
        'conversions_value': money_type(),
    }) }}

)

select
    tenant_id,
    customer_id,
    cast("date" as date) as date_day,
    campaign_id,
    ad_group_id,
    ad_id,
    upper(currency_code) as currency_code,
    impressions,
    clicks,
    {{ micros_to_money('cost_micros') }} as spend,
    conversions,
    conversions_value
from metrics
