with ad_groups as (

    {{ union_tenant_sources('google_ads', 'ad_groups', {
        'customer_id': 'bigint',
        'campaign_id': 'bigint',
        'ad_group_id': 'bigint',
        'ad_group_name': 'varchar',
        'ad_group_status': 'varchar',
    }) }}

)

select
    tenant_id,
    customer_id,
    ad_group_id,
    campaign_id,
    ad_group_name,
    ad_group_status
from ad_groups
