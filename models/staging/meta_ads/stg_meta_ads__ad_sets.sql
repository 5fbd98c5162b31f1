with ad_sets as (

    {{ union_tenant_sources('meta_ads', 'ad_sets', {
        'id': 'bigint',
        'account_id': 'bigint',
        'campaign_id': 'bigint',
        'name': 'varchar',
        'status': 'varchar',
        'configured_status': 'varchar',
        'effective_status': 'varchar',
        'billing_event': 'varchar',
        'optimization_goal': 'varchar',
        'daily_budget': 'bigint',
        'start_time': 'timestamptz',
        'created_time': 'timestamptz',
    }) }}

),

accounts as (

    {{ union_tenant_sources('meta_ads', 'account', {'account_id': 'bigint', 'currency': 'varchar'}) }}

)

select
    ad_sets.tenant_id,
    ad_sets.id as ad_set_id,
    ad_sets.account_id,
    ad_sets.campaign_id,
    ad_sets.name as ad_set_name,
    ad_sets.status,
    ad_sets.configured_status,
    ad_sets.effective_status,
    ad_sets.billing_event,
    ad_sets.optimization_goal,
    upper(accounts.currency) as currency_code,
    {{ minor_units_to_money('ad_sets.daily_budget', 'accounts.currency') }} as daily_budget,
    ad_sets.start_time as started_at,
    ad_sets.created_time as created_at
from ad_sets
left join accounts
    on accounts.tenant_id = ad_sets.tenant_id
    and accounts.account_id = ad_sets.account_id
