with creatives as (

    {{ union_tenant_sources('linkedin_ads', 'creatives', {
        'creative_id': 'bigint',
        'id': 'varchar',
        'account_id': 'bigint',
        'campaign_id': 'bigint',
        'name': 'varchar',
        'intended_status': 'varchar',
        'is_serving': 'boolean',
        'is_test': 'boolean',
        'content__reference': 'varchar',
        'created_at': 'timestamptz',
        'last_modified_at': 'timestamptz',
    }) }}

)

select
    tenant_id,
    creative_id,
    id as creative_urn,
    account_id,
    campaign_id,
    name as creative_name,
    intended_status,
    is_serving,
    is_test,
    content__reference as content_reference_urn,
    created_at,
    last_modified_at
from creatives
