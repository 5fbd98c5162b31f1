with analytics as (

    {{ union_tenant_sources('linkedin_ads', 'creative_daily_analytics', {
        'creative_id': 'bigint',
        'date': 'date',
        'account_id': 'bigint',
        'currency': 'varchar',
        'impressions': 'bigint',
        'clicks': 'bigint',
        'cost_in_local_currency': money_type(),
        'external_website_conversions': 'bigint',
        'external_website_post_click_conversions': 'bigint',
        'external_website_post_view_conversions': 'bigint',
        'conversion_value_in_local_currency': money_type(),
    }) }}

)

select
    tenant_id,
    creative_id,
    "date" as date_day,
    account_id,
    upper(currency) as currency_code,
    impressions,
    clicks,
    cost_in_local_currency as spend,
    cast(external_website_conversions as decimal(18, 6)) as conversions,
    external_website_post_click_conversions as post_click_conversions,
    external_website_post_view_conversions as post_view_conversions,
    conversion_value_in_local_currency as conversions_value
from analytics
