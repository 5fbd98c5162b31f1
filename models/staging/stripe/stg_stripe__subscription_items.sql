with items as (

    {{ union_tenant_sources('stripe', 'subscriptions__items', {
        'id': 'varchar',
        'subscription': 'varchar',
        'created': 'timestamptz',
        'quantity': 'bigint',
        'price__id': 'varchar',
        'price__product': 'varchar',
        'price__nickname': 'varchar',
        'price__active': 'boolean',
        'price__type': 'varchar',
        'price__billing_scheme': 'varchar',
        'price__currency': 'varchar',
        'price__unit_amount': 'bigint',
        'price__recurring__interval': 'varchar',
        'price__recurring__interval_count': 'integer',
        'price__recurring__usage_type': 'varchar',
    }) }}

)

select
    tenant_id,
    id as subscription_item_id,
    subscription as subscription_id,
    created as created_at,
    quantity,
    price__id as price_id,
    price__product as product_id,
    price__nickname as price_nickname,
    price__active as is_price_active,
    price__type as price_type,
    price__billing_scheme as billing_scheme,
    upper(price__currency) as currency_code,
    {{ minor_units_to_money('price__unit_amount', 'price__currency') }} as unit_amount,
    price__recurring__interval as recurring_interval,
    price__recurring__interval_count as recurring_interval_count,
    price__recurring__usage_type as recurring_usage_type
from items
