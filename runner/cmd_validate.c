int cmd_validate(int a, char **b){(void)a;(void)b;return 0;}
