with ads as (

    {{ union_tenant_sources('meta_ads', 'ads', {
        'id': 'bigint',
        'account_id': 'bigint',
        'campaign_id': 'bigint',
        'adset_id': 'bigint',
        'name': 'varchar',
        'status': 'varchar',
        'configured_status': 'varchar',
        'effective_status': 'varchar',
        'creative__id': 'bigint',
        'created_time': 'timestamptz',
        'updated_time': 'timestamptz',
    }) }}

)

select
    tenant_id,
    id as ad_id,
    account_id,
    campaign_id,
    adset_id as ad_set_id,
    name as ad_name,
    status,
    configured_status,
    effective_status,
    creative__id as creative_id,
    created_time as created_at,
    updated_time as updated_at
from ads
