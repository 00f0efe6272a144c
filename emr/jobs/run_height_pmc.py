"""EMR step entry point: PMC-ABC on abcspark's height example (``python -m abcspark``).

EMR cannot spark-submit a module, so this file is uploaded to S3 and submitted instead:

    spark-submit --deploy-mode client \\
        s3://my-abc-bucket/abcspark/artifacts/jobs/run_height_pmc.py \\
        --particles 1000 --generations 6 --seed 1 \\
        --output s3://my-abc-bucket/abcspark/results/height-pmc/

It takes the options of ``python -m abcspark``; the bootstrap action installed abcspark.
"""

from abcspark.__main__ import main

if __name__ == "__main__":
    main()
