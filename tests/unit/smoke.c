#include <criterion/criterion.h>
#include "ah.h"
Test(smoke, top_level)
{
    cr_expect_eq(ah_execution_id(), 1);
}
