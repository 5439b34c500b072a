/* The main of programs whose other functions are never run. */
int main(void) { return 0; }
