with campaigns as (

    {{ union_tenant_sources('linkedin_ads', 'campaigns', {
        'id': 'bigint',
        'account_id': 'bigint',
        'campaign_group_id': 'bigint',
        'name': 'varchar',
        'status': 'varchar',
        'type': 'varchar',
        'cost_type': 'varchar',
        'objective_type': 'varchar',
        'format': 'varchar',
        'test': 'boolean',
        'locale__country': 'varchar',
        'locale__language': 'varchar',
        'daily_budget__amount': money_type(),
        'daily_budget__currency_code': 'varchar',
        'unit_cost__amount': money_type(),
        'unit_cost__currency_code': 'varchar',
        'run_schedule__start': 'timestamptz',
        'run_schedule__end': 'timestamptz',
        'change_audit_stamps__created__time': 'timestamptz',
        'change_audit_stamps__last_modified__time': 'timestamptz',
    }) }}

),

accounts as (

    {{ union_tenant_sources('linkedin_ads', 'account', {'id': 'bigint', 'currency': 'varchar'}) }}

)

select
    campaigns.tenant_id,
    campaigns.id as campaign_id,
    campaigns.account_id,
    campaigns.campaign_group_id,
    campaigns.name as campaign_name,
    campaigns.status,
    campaigns.type as campaign_type,
    campaigns.cost_type,
    campaigns.objective_type,
    campaigns.format,
    campaigns.test as is_test,
    campaigns.locale__country as locale_country,
    campaigns.locale__language as locale_language,
    upper(coalesce(
        campaigns.daily_budget__currency_code,
        campaigns.unit_cost__currency_code,
        accounts.currency
    )) as currency_code,
    campaigns.daily_budget__amount as daily_budget,
    campaigns.unit_cost__amount as unit_cost,
    campaigns.run_schedule__start as run_schedule_start_at,
    campaigns.run_schedule__end as run_schedule_end_at,
    campaigns.change_audit_stamps__created__time as created_at,
    campaigns.change_audit_stamps__last_modified__time as last_modified_at
from campaigns
left join accounts
    on accounts.tenant_id = campaigns.tenant_id
    and accounts.id = campaigns.account_id
