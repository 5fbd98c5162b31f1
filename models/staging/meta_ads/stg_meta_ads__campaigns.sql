with campaigns as (

    {{ union_tenant_sources('meta_ads', 'campaigns', {
        'id': 'bigint',
        'account_id': 'bigint',
        'name': 'varchar',
        'objective': 'varchar',
        'status': 'varchar',
        'configured_status': 'varchar',
        'effective_status': 'varchar',
        'buying_type': 'varchar',
        'bid_strategy': 'varchar',
        'daily_budget': 'bigint',
        'start_time': 'timestamptz',
        'created_time': 'timestamptz',
        'updated_time': 'timestamptz',
    }) }}

),

accounts as (

    {{ union_tenant_sources('meta_ads', 'account', {'account_id': 'bigint', 'currency': 'varchar'}) }}

)

select
    campaigns.tenant_id,
    campaigns.id as campaign_id,
    campaigns.account_id,
    campaigns.name as campaign_name,
    campaigns.objective,
    campaigns.status,
    campaigns.configured_status,
    campaigns.effective_status,
    campaigns.buying_type,
    campaigns.bid_strategy,
    upper(accounts.currency) as currency_code,
    {{ minor_units_to_money('campaigns.daily_budget', 'accounts.currency') }} as daily_budget,
    campaigns.start_time as started_at,
    campaigns.created_time as created_at,
    campaigns.updated_time as updated_at
from campaigns
left join accounts
    on accounts.tenant_id = campaigns.tenant_id
    and accounts.account_id = campaigns.account_id
