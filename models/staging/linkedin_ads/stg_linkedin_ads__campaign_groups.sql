with campaign_groups as (

    {{ union_tenant_sources('linkedin_ads', 'campaign_groups', {
        'id': 'bigint',
        'account_id': 'bigint',
        'name': 'varchar',
        'status': 'varchar',
        'test': 'boolean',
        'run_schedule__start': 'timestamptz',
        'run_schedule__end': 'timestamptz',
        'change_audit_stamps__created__time': 'timestamptz',
        'change_audit_stamps__last_modified__time': 'timestamptz',
    }) }}

)

select
    tenant_id,
    id as campaign_group_id,
    account_id,
    name as campaign_group_name,
    status,
    test as is_test,
    run_schedule__start as run_schedule_start_at,
    run_schedule__end as run_schedule_end_at,
    change_audit_stamps__created__time as created_at,
    change_audit_stamps__last_modified__time as last_modified_at
from campaign_groups
