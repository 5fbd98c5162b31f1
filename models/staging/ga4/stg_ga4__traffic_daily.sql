with traffic as (

    {{ union_tenant_sources('ga4', 'traffic_daily', {
        'property_id': 'bigint',
        'date': 'date',
        'session_source': 'varchar',
        'session_medium': 'varchar',
        'session_campaign_name': 'varchar',
        'sessions': 'bigint',
        'total_users': 'bigint',
        'key_events': 'bigint',
        'purchase_revenue': money_type(),
        'currency_code': 'varchar',
    }) }}

)

select
    tenant_id,
    property_id,
    "date" as date_day,
    session_source,
    session_medium,
    session_campaign_name,
    upper(currency_code) as currency_code,
    sessions,
    total_users,
    key_events,
    purchase_revenue
from traffic
