with ads as (

    {{ union_tenant_sources('google_ads', 'ads', {
        'customer_id': 'bigint',
        'campaign_id': 'bigint',
        'ad_group_id': 'bigint',
        'ad_id': 'bigint',
        'ad_name': 'varchar',
        'ad_status': 'varchar',
    }) }}

)

select
    tenant_id,
    customer_id,
    ad_group_id,
    ad_id,
    campaign_id,
    ad_name,
    ad_status
from ads
