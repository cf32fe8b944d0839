"""What a storage's studies hold, for people and scripts: the studies and a study's best
trials as plain data, the lines the commands print about them, and the best trial's model
exported as a `.keras` file."""
